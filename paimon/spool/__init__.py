"""Where upload bodies land, once, while they stream in: spool files and the loop that
copies a raw body into one."""
