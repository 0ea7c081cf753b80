package registry

import (
	"testing"
)

// FuzzApplyRecord feeds arbitrary records of the _schemas topic to an
// instance's cache: a record it cannot use is skipped, never a crash,
// and the cache stays consistent enough to answer reads.
func FuzzApplyRecord(f *testing.F) {
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`),
		[]byte(`{"subject":"s","version":1,"id":1,"schema":"\"int\"","deleted":false}`))
	f.Add([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`), []byte(`{"compatibilityLevel":"FULL"}`))
	f.Add([]byte(`{"keytype":"MODE","subject":"s","magic":0}`), []byte(`{"mode":"READONLY"}`))
	f.Add([]byte(`{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`), []byte(`{"subject":"s","version":1}`))
	f.Add([]byte(`{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}`), []byte(`{"subject":"s"}`))
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`), []byte(nil))
	f.Add([]byte(`{"keytype":"NOOP","magic":0}`), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := newState()
		// A schema first, so that deletes and tombstones have work.
		st.apply(0, []byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`),
			[]byte(`{"subject":"s","version":1,"id":1,"schema":"\"int\"","deleted":false}`))
		st.apply(1, key, value)
		st.apply(2, key, nil)
		for _, name := range st.subjectNames(true, "") {
			for _, v := range st.versions(name, true) {
				if v.Subject != name || v.Version < 1 {
					t.Fatalf("inconsistent entry %+v under %q", v, name)
				}
			}
		}
		st.effectiveCompatibility("s")
		st.effectiveMode("s")
		if st.applied != 3 {
			t.Fatalf("applied %d", st.applied)
		}
	})
}
