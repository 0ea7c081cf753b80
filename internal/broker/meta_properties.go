package broker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/samsa-io/samsa/internal/config"

	"github.com/samsa-io/samsa/internal/storage"
)

// readMetaProperties reads meta.properties (Kafka's KRaft v1 format:
// node.id, cluster.id, directory.id, version) from every log dir and
// checks that they agree with each other and with node.id. It returns the
// cluster id they name ("" if none has one yet) and the dirs without the
// file, creating the dirs as needed.
func readMetaProperties(dirs []string, nodeID int32) (clusterID string, missing []string, err error) {
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("log.dirs: %w", err)
		}
		path := filepath.Join(dir, "meta.properties")
		props, err := config.LoadProperties(path)
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, dir)
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if id, err := strconv.Atoi(props["node.id"]); err != nil || int32(id) != nodeID {
			return "", nil, fmt.Errorf("%s has node.id %q but this broker is node.id %d", path, props["node.id"], nodeID)
		}
		switch cid := props["cluster.id"]; {
		case cid == "":
			return "", nil, fmt.Errorf("%s has no cluster.id", path)
		case clusterID == "":
			clusterID = cid
		case clusterID != cid:
			return "", nil, fmt.Errorf("%s has cluster.id %s but another log dir has %s", path, cid, clusterID)
		}
	}
	return clusterID, missing, nil
}

// writeMetaProperties writes meta.properties into dirs.
func writeMetaProperties(dirs []string, nodeID int32, clusterID string) error {
	for _, dir := range dirs {
		content := fmt.Sprintf("#\n#%s\nnode.id=%d\ndirectory.id=%s\nversion=1\ncluster.id=%s\n",
			time.Now().UTC().Format(time.UnixDate), nodeID, randomID(), clusterID)
		if err := storage.WriteFileAtomic(storage.OSFS, dir, "meta.properties", []byte(content)); err != nil {
			return err
		}
	}
	return nil
}

// randomID is a random UUID in Kafka's base64url form.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant
	return base64.RawURLEncoding.EncodeToString(b[:])
}
