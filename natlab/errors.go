package natlab

import "errors"

var (
	// ErrConfig reports an invalid lab configuration.
	ErrConfig = errors.New("natlab: invalid configuration")
	// ErrExists reports that a lab of that name already exists.
	ErrExists = errors.New("natlab: lab already exists")
	// ErrNotFound reports that no lab, site or host of that name exists.
	ErrNotFound = errors.New("natlab: not found")
	// ErrUnsupported reports that this machine cannot build a lab: not
	// root, or iproute2 or nftables missing.
	ErrUnsupported = errors.New("natlab: this machine cannot build a lab")
)
