// Command passport-bench measures what Passport costs beside its floor and
// prints one table (see internal/bench; `make bench` runs it).
//
//	passport-bench [-quick] [-doc docs/performance.md] [-record DIR] [-use-existing]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/passport-oss/passport/internal/bench"
)

func main() {
	bench.MaybeRunLoadClient() // when started as its own load client
	quick := flag.Bool("quick", false, "run everything on tiny counts: a smoke run, numbers meaningless")
	doc := flag.String("doc", "", "also write the table into this Markdown file, between its markers (full runs only)")
	record := flag.String("record", "", "save each function's AWS responses here (the handler benchmarks' canned responses)")
	existing := flag.Bool("use-existing", false, "use the DynamoDB and KMS of AWS_ENDPOINT_URL_* and PASSPORT_KMS_KEY_ID instead of starting them")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := bench.Run(ctx, bench.Options{Quick: *quick, Record: *record, UseExisting: *existing, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "passport-bench:", err)
		os.Exit(1)
	}
	command := "make bench"
	if args := os.Args[1:]; len(args) > 0 {
		command = "passport-bench " + strings.Join(args, " ")
	}
	if err := report.WriteMarkdown(os.Stdout, command); err != nil {
		fmt.Fprintln(os.Stderr, "passport-bench:", err)
		os.Exit(1)
	}
	for _, f := range report.Files {
		fmt.Fprintln(os.Stderr, "passport-bench: wrote", f)
	}
	if *doc != "" && !*quick {
		if err := report.UpdateDoc(*doc, "make bench"); err != nil {
			fmt.Fprintln(os.Stderr, "passport-bench:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "passport-bench: updated", *doc)
	}
}
