package ipc

import (
	"golang.org/x/sys/windows"

	"github.com/ztagent/ztagent/platform/peercred"
)

// IsConsoleUser reports whether uid (peercred.SIDUID of a SID) is the
// user signed in at this PC's console session, who may register an
// unregistered device: agentd, as SYSTEM, asks for that session's token
// (WTSQueryUserToken). With nobody at the console no user qualifies, and
// administrators register as root anyway.
func IsConsoleUser(uid int) bool {
	if uid <= 0 {
		return false
	}
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return false
	}
	var tok windows.Token
	if err := windows.WTSQueryUserToken(session, &tok); err != nil {
		return false
	}
	defer tok.Close()
	user, err := tok.GetTokenUser()
	if err != nil {
		return false
	}
	return peercred.SIDUID(user.User.Sid.String()) == uid
}
