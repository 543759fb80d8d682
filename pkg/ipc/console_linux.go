package ipc

// IsConsoleUser reports whether uid belongs to a person logged in at this
// computer, who may register an unregistered device: a uid in login.defs'
// range for people (UID_MIN..UID_MAX, 1000..60000 by default), never
// nobody, and, where systemd-logind runs, with a login session now.
// System accounts never qualify: a compromised service must not become the
// operator of the device.
func IsConsoleUser(uid int) bool { return linuxConsoleRule.isConsole(uid) }
