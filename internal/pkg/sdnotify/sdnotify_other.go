//go:build !linux

package sdnotify

// Notifier does nothing off Linux, where instances do not run.
type Notifier struct{}

// FromEnv returns no notifier off Linux.
func FromEnv() (*Notifier, error) { return nil, nil }

// Send sends nothing.
func (*Notifier) Send(string) error { return nil }

// Barrier waits for nothing.
func (*Notifier) Barrier() error { return nil }
