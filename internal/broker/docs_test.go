package broker

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompatibilityDocListsServedAPIs keeps docs/compatibility.md's API
// table equal to what ApiVersions advertises.
func TestCompatibilityDocListsServedAPIs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- api-table:start -->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- api-table:end -->")
	if !ok || !ok2 {
		t.Fatal("compatibility.md has no api-table markers")
	}
	var want strings.Builder
	want.WriteString("| key | API | versions |\n|---|---|---|\n")
	for _, h := range apiKeys() {
		fmt.Fprintf(&want, "| %d | %s | %d-%d |\n", h.key, kmsg.NameForKey(h.key), h.min, h.max)
	}
	if table != want.String() {
		t.Errorf("docs/compatibility.md API table is out of date; it should read:\n%s", want.String())
	}
}
