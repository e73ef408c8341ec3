"""What the daemon tells its operators: logs (``logs``), Sentry alerts and check-ins (``alerts``) and Prometheus
metrics (``metrics``)."""
