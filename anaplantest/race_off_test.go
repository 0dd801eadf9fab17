//go:build !race

package anaplantest

// raceEnabled: the race detector is on (sync.Pool then drops items at random).
const raceEnabled = false
