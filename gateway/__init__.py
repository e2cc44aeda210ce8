"""The regional front door: one app in front of every service."""
