package mam

import (
	"context"
	"time"
)

// retentionEvery is how often expired records are deleted.
const retentionEvery = time.Hour

// RunRetention deletes records older than keep from every archive, now
// and every hour, until ctx ends. keep 0 keeps everything and returns at
// once.
func (a *Archive) RunRetention(ctx context.Context, keep time.Duration) {
	if keep <= 0 {
		return
	}
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		n, err := a.store.ExpireArchive(ctx, a.now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("mam: archive retention", "err", err)
		case n > 0:
			a.log.Info("mam: expired archived messages", "records", n, "older_than", keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
