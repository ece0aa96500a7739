package detpunch

import "errors"

var (
	// ErrConfig reports an unusable configuration or peer address.
	ErrConfig = errors.New("detpunch: invalid configuration")
	// ErrNoPublicIP reports that this side's public IP is unknown: it was
	// neither given (Config.MyIP) nor could be learned (Config.STUN).
	ErrNoPublicIP = errors.New("detpunch: this side's public IP is unknown")
	// ErrSameIP reports that both peers have the same IP, so that neither
	// the roles nor the NAT mappings can tell them apart.
	ErrSameIP = errors.New("detpunch: both peers have the same IP")
	// ErrNoPorts reports that none of the plan's ports could be bound.
	ErrNoPorts = errors.New("detpunch: none of the ports can be bound")
	// ErrTimeout reports that no connection was chosen before the
	// deadline.
	ErrTimeout = errors.New("detpunch: no connection before the deadline")
)
