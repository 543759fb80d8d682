package ipc

// PipeSDDL is the security descriptor of agentd's named pipe on Windows,
// in SDDL: owned by SYSTEM, a protected DACL (nothing inherited) that
// gives SYSTEM and Administrators full control and every authenticated
// user read and write, which is what connecting takes. Who may do what is
// then decided per request from the client's token, as on unix from peer
// credentials; anonymous and network logons are not authenticated users
// of this machine's pipe namespace.
const PipeSDDL = "O:SYG:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;AU)"
