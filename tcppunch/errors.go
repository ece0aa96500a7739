package tcppunch

import "errors"

var (
	// ErrTimeout reports that no connection came up before the deadline.
	ErrTimeout = errors.New("tcppunch: no connection before the deadline")
	// ErrRefused reports that every attempt was answered with RST.
	ErrRefused = errors.New("tcppunch: connection refused")
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("tcppunch: invalid configuration")
	// ErrBind reports that a local port cannot be bound, even with
	// SO_REUSEADDR and SO_REUSEPORT.
	ErrBind = errors.New("tcppunch: cannot bind")
	// ErrStranger reports a connection from an address that is not the
	// peer's; it was closed.
	ErrStranger = errors.New("tcppunch: connection from a stranger refused")
)
