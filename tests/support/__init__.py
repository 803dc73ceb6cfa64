"""What several test files need to run the service for real: servers, event streams, a browser."""
