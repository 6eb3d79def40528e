#!/bin/sh
# Test plugin: binary garbage on the first line (NUL, control bytes,
# invalid UTF-8), exit 0.
printf 'GARBAGE\000\001\033[31m\377\376 tail\r\n\377more\n'
exit 0
