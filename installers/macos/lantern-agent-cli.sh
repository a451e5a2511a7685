#!/bin/sh
# /usr/local/bin/lantern-agent: the agent CLI (status, enrol, run) from the app bundle.
exec "/Library/Application Support/Lantern/Lantern Agent.app/Contents/MacOS/lantern-agent-session" --agent "$@"
