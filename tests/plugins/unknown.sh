#!/bin/sh
# Nagios-style test plugin: UNKNOWN (exit 3).
echo "UNKNOWN - bad option"
exit 3
