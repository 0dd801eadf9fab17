package anaplan_test

import (
	"fmt"
	"os/exec"
)

func runOpenSSL(args ...string) error {
	if _, err := exec.LookPath("openssl"); err != nil {
		return err
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
