#!/bin/sh
# Remove the Lantern agent from a Mac (run as root, e.g. a Jamf policy script):
# stops it for every logged-in user, removes the app, the LaunchAgent, the machine configuration and
# every user's agent state (~/Library/Application Support/lantern), and forgets the package receipt.
set -e
PLIST=/Library/LaunchAgents/uk.ac.lantern.agent.plist
LABEL=uk.ac.lantern.agent
APP="/Library/Application Support/Lantern/Lantern Agent.app"

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for uid in $(ps -axo uid=,comm= | awk '/loginwindow$/ {print $1}' | sort -u); do
	launchctl bootout "gui/$uid/$LABEL" 2>/dev/null || true
done
if [ -x "$APP/Contents/MacOS/lantern-agent-session" ]; then
	"$APP/Contents/MacOS/lantern-agent-session" --config "/Library/Application Support/Lantern/agent.conf" uninstall-cleanup || true
fi
rm -f "$PLIST" /usr/local/bin/lantern-agent
rm -rf "/Library/Application Support/Lantern"
pkgutil --forget uk.ac.lantern.agent >/dev/null 2>&1 || true
echo "Lantern agent removed"
