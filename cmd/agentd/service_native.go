package main

import (
	"fmt"
	"strings"

	"github.com/kardianos/service"
)

// launchdPlist is agentd's launchd job: a system daemon in
// /Library/LaunchDaemons started at boot, restarted only when it exits
// with an error (KeepAlive's SuccessfulExit), at most every 5 s, with a
// private umask and its output in /var/log/ztagent-agentd.log (launchd makes the file, not a directory).
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{html .Name}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{html .Path}}</string>
		{{range .Config.Arguments}}<string>{{html .}}</string>
		{{end}}
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>5</integer>
	<key>Umask</key>
	<integer>63</integer>
	<key>ProcessType</key>
	<string>Standard</string>
	<key>StandardOutPath</key>
	<string>/var/log/ztagent-agentd.log</string>
	<key>StandardErrorPath</key>
	<string>/var/log/ztagent-agentd.log</string>
</dict>
</plist>
`

// nativeServiceConfig is agentd's kardianos/service configuration on
// goos (darwin or windows): 'agentd run' with runArgs (the system layout
// is its default as the service: paths.SystemLayout), restarted after a failure. On Windows it runs as LocalSystem,
// which the protected pipe and the console-user lookup need, starts
// automatically, and is restarted 5 s after a failure (the failure count
// resets after a day); on macOS it is launchdPlist.
func nativeServiceConfig(goos, exe string, runArgs []string) (*service.Config, error) {
	for _, a := range runArgs {
		if strings.ContainsAny(a, "\x00\n\r") {
			return nil, fmt.Errorf("--run-arg %q holds a control character", a)
		}
	}
	cfg := &service.Config{
		Name:        serviceName,
		DisplayName: "ztagent endpoint agent",
		Description: "Keeps this device registered with the organization, its tunnel up and its client sessions current.",
		Executable:  exe,
		// agentd run as the service picks the system layout itself, from
		// its own environment (%ProgramData% on Windows).
		Arguments: append([]string{"run"}, runArgs...),
		Option:    service.KeyValue{},
	}
	switch goos {
	case "windows":
		cfg.Option["StartType"] = "automatic"
		cfg.Option["OnFailure"] = "restart"
		cfg.Option["OnFailureDelayDuration"] = "5s"
		cfg.Option["OnFailureResetPeriod"] = 86400
	case "darwin":
		cfg.Option["LaunchdConfig"] = launchdPlist
		cfg.Option["UserService"] = false
	default:
		return nil, fmt.Errorf("no native service configuration for %s: it uses the systemd unit", goos)
	}
	return cfg, nil
}
