package latexblendv1

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzConceptJobSpec: any wire bytes that decode to a job spec are validated without a
// panic; every problem is named by a field path; and a valid spec stays valid with its
// defaults filled in (what the coordinator stores and the trainers run).
func FuzzConceptJobSpec(f *testing.F) {
	for _, s := range []*ConceptJobSpec{
		validSubmit().Spec,
		{ConceptName: "rex", ClassNoun: "dog", UploadId: testUpload, InstanceImages: validSubmit().Spec.InstanceImages,
			TokenOnly: true, Places: 3, PlaceFillers: []string{"cat", "teddy bear"}},
		{ConceptName: "x", ClassNoun: "dog ", Places: 17, PlaceFillers: []string{"dog"}},
	} {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ConceptJobSpec
		if proto.Unmarshal(b, &s) != nil {
			return
		}
		err := s.Validate()
		if err != nil {
			if field, _, ok := strings.Cut(err.Error(), ":"); !ok || field == "" || strings.ContainsAny(field, " \n") {
				t.Fatalf("error without a field path: %v", err)
			}
			return
		}
		if err := s.WithDefaults(512).Validate(); err != nil {
			t.Fatalf("a valid spec with its defaults filled in is invalid: %v\n%v", err, &s)
		}
	})
}
