//go:build race

package anaplan

// raceEnabled: the race detector is on (sync.Pool then drops items at random).
const raceEnabled = true
