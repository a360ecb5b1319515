"""Job capability: submission, the runner, attempts, staging, scheduling and live logs."""
