"""What the tests share: people and sessions (factories), databases, live servers and streams."""
