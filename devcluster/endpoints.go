package devcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// HomeEnv overrides latexblend's home directory (default ~/.latexblend).
const HomeEnv = "LATEXBLEND_HOME"

// Endpoints is what `latexblend dev` publishes so that client commands find the running
// dev cluster without flags.
type Endpoints struct {
	Etcd        []string  `json:"etcd"`
	NATS        string    `json:"nats"`
	Coordinator string    `json:"coordinator"`
	Samplers    []string  `json:"samplers,omitempty"`
	Token       string    `json:"token,omitempty"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
}

// Home returns $LATEXBLEND_HOME or ~/.latexblend.
func Home() (string, error) {
	if h := os.Getenv(HomeEnv); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("latexblend home: %w (set %s)", err, HomeEnv)
	}
	return filepath.Join(u, ".latexblend"), nil
}

// EndpointsPath is where the dev cluster's endpoints file lives.
func EndpointsPath() (string, error) {
	h, err := Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "dev", "endpoints.json"), nil
}

// ErrNoDevCluster means no endpoints file exists: no dev cluster is running.
var ErrNoDevCluster = errors.New("no dev cluster is running (start one with `latexblend dev`, or pass --etcd / --coordinator)")

// WriteEndpoints writes the file atomically (temp file + rename), readable only by the
// user since it holds the auth token.
func WriteEndpoints(path string, e Endpoints) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".endpoints-*.json")
	if err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("endpoints file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("endpoints file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("endpoints file: %w", err)
	}
	return nil
}

// ReadEndpoints reads the dev cluster's endpoints file; ErrNoDevCluster when absent.
func ReadEndpoints(path string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, ErrNoDevCluster
	}
	if err != nil {
		return e, fmt.Errorf("endpoints file: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("endpoints file %s: %w", path, err)
	}
	if len(e.Etcd) == 0 {
		return e, fmt.Errorf("endpoints file %s: no etcd endpoints", path)
	}
	return e, nil
}
