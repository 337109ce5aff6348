package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// repoContainerfile is the repository's own Containerfile; go test runs
// in the package directory, two levels below the root.
var repoContainerfile = filepath.Join("..", "..", "Containerfile")

// readFile returns the contents of path as a string.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// finalStageOf is a Containerfile whose final stage is body, after a build
// stage that uses instructions the final stage may not.
func finalStageOf(body string) string {
	return `FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
RUN go build -o /out/svcproxy ./cmd/svcproxy

FROM docker.io/library/debian:bookworm-slim
` + body
}

// goodRun is a final-stage RUN the parser accepts.
const goodRun = "RUN apt-get update && apt-get install -y --no-install-recommends nftables\n"

func TestParseContainerfile(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Spec
	}{{
		name: "the repository's Containerfile",
		text: readFile(t, repoContainerfile),
		want: Spec{
			Suite:      "bookworm",
			Packages:   []string{"conntrack", "iproute2", "iptables", "nftables"},
			Entrypoint: []string{"/usr/local/bin/svcproxy"},
		},
	}, {
		name: "packages from several installs, sorted and deduplicated",
		text: finalStageOf(`# comment
RUN apt-get update \
 # a comment inside a continuation is skipped
 && apt-get -qq install --no-install-recommends -y nftables iptables \
 && rm -rf /var/lib/apt/lists/*
run apt-get install --yes --no-install-recommends iptables conntrack
COPY --from=build /out/svcproxy /usr/local/bin/svcproxy
ENTRYPOINT ["/bin/false"]
ENTRYPOINT ["/usr/local/bin/svcproxy", "--v=2"]
`),
		want: Spec{
			Suite:      "bookworm",
			Packages:   []string{"conntrack", "iptables", "nftables"},
			Entrypoint: []string{"/usr/local/bin/svcproxy", "--v=2"},
		},
	}, {
		name: "a non-slim image without the registry prefix",
		text: "FROM debian:trixie AS final\n" + goodRun + `ENTRYPOINT ["/x"]`,
		want: Spec{Suite: "trixie", Packages: []string{"nftables"}, Entrypoint: []string{"/x"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseContainerfile(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Spec (-want +got):\n%s", diff)
			}
		})
	}
}

type containerfileErrorCase struct {
	name string
	text string
	want string // a part of the error
}

var containerfileErrorCases = []containerfileErrorCase{{
	name: "no ENTRYPOINT",
	text: finalStageOf(goodRun),
	want: "line 6: the final stage starting here has no ENTRYPOINT",
}, {
	name: "an ENTRYPOINT only in the build stage",
	text: "FROM debian:bookworm AS build\nENTRYPOINT [\"/x\"]\n" + finalStageOf(goodRun),
	want: "line 8: the final stage starting here has no ENTRYPOINT",
}, {
	name: "shell-form ENTRYPOINT",
	text: finalStageOf(goodRun + "ENTRYPOINT /usr/local/bin/svcproxy\n"),
	want: "line 8: ENTRYPOINT /usr/local/bin/svcproxy: only the exec form",
}, {
	name: "ENTRYPOINT that is not JSON",
	text: finalStageOf(goodRun + "ENTRYPOINT [/usr/local/bin/svcproxy]\n"),
	want: "line 8: ENTRYPOINT [/usr/local/bin/svcproxy]: decoding the JSON array",
}, {
	name: "empty ENTRYPOINT",
	text: finalStageOf(goodRun + "ENTRYPOINT []\n"),
	want: "line 8: ENTRYPOINT []: names no program",
}, {
	name: "no apt-get install in the final stage",
	text: "FROM debian:bookworm AS build\n" + goodRun + finalStageOf(`RUN apt-get update
ENTRYPOINT ["/x"]
`),
	want: "line 8: the final stage starting here has no apt-get install",
}, {
	name: "install without --no-install-recommends",
	text: finalStageOf("RUN apt-get install -y nftables\nENTRYPOINT [\"/x\"]\n"),
	want: "line 7: apt-get install without --no-install-recommends",
}, {
	name: "version pin",
	text: finalStageOf("RUN apt-get install -y --no-install-recommends nftables=1.0.6-2\n"),
	want: `line 7: apt-get install argument "nftables=1.0.6-2" is not a package name`,
}, {
	name: "unknown apt-get option",
	text: finalStageOf("RUN apt-get install -o Dpkg::Options::=--force-confold nftables\n"),
	want: "line 7: apt-get option -o is not supported",
}, {
	name: "apt-get remove",
	text: finalStageOf("RUN apt-get remove -y nftables\n"),
	want: "line 7: apt-get remove: only install",
}, {
	name: "another command in a RUN",
	text: finalStageOf("RUN apt-get update \\\n && mkdir /data\n"),
	want: `line 7: RUN command "mkdir /data"`,
}, {
	name: "a command after a semicolon",
	text: finalStageOf("RUN apt-get install -y --no-install-recommends nftables; true\n"),
	want: `line 7: apt-get install argument "nftables;" is not a package name`,
}, {
	name: "exec-form RUN",
	text: finalStageOf(`RUN ["apt-get", "update"]` + "\n"),
	want: "line 7: RUN in exec form",
}, {
	name: "ENV in the final stage",
	text: finalStageOf(goodRun + "ENV FOO=bar\n"),
	want: "line 8: ENV in the final stage is not supported",
}, {
	name: "final stage from another distribution",
	text: "FROM docker.io/library/alpine:3.20\n" + goodRun,
	want: "line 1: FROM docker.io/library/alpine:3.20: the final stage must start from debian:<suite>",
}, {
	name: "final stage without a tag",
	text: "FROM debian\n" + goodRun,
	want: "line 1: FROM debian: the final stage must start from debian:<suite>",
}, {
	name: "version tag",
	text: "FROM debian:12-slim\n" + goodRun,
	want: `line 1: FROM debian:12-slim: tag "12-slim" does not name a Debian suite`,
}, {
	name: "digest",
	text: "FROM debian:bookworm-slim@sha256:0123\n" + goodRun,
	want: "line 1: FROM debian:bookworm-slim@sha256:0123: images pinned by digest",
}, {
	name: "FROM with a platform flag",
	text: "FROM --platform=linux/amd64 debian:bookworm\n" + goodRun,
	want: "line 1: FROM \"--platform=linux/amd64 debian:bookworm\": want an image",
}, {
	name: "instruction before FROM",
	text: "ARG SUITE=bookworm\n" + "FROM debian:bookworm\n",
	want: "line 1: ARG before the first FROM",
}, {
	name: "no FROM",
	text: "# nothing\n",
	want: "no FROM instruction",
}, {
	name: "continuation at the end of the file",
	text: finalStageOf("RUN apt-get update \\\n"),
	want: "line 7: RUN continues past the end of the file",
}}

func TestParseContainerfileErrors(t *testing.T) {
	for _, tt := range containerfileErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := ParseContainerfile(strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", spec, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
