"""The HTTP side: the app factory, thin API routes, pages and the live stream."""
