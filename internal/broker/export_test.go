package broker

import "github.com/samsa-io/samsa/internal/storage"

// CleanerConfig returns the log cleaner's configuration in effect, for
// tests of dynamic log.cleaner.* configs.
func (b *Broker) CleanerConfig() storage.CleanerConfig { return b.logs.CleanerConfig() }
