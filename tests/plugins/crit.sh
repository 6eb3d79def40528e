#!/bin/sh
# Nagios-style test plugin: CRITICAL (exit 2), message on stderr.
echo "CRITICAL - down" >&2
exit 2
