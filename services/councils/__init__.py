"""The councils service: Cluster Growth Councils, their members, meetings, decisions and initiatives."""
