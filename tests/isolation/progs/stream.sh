#!/bin/sh
# A never-ending stream of output.
echo "stream starting"
exec yes "runcell isolation test: endless output line"
