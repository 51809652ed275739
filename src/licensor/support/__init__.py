"""Support: requests, their screenshots, the license key read from them, the agent desk."""
