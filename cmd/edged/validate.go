package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

func newValidateCmd() *cobra.Command {
	var tfDir, simFile string
	cmd := &cobra.Command{
		Use:   "validate --terraform DIR --sim FILE",
		Short: "Check a Terraform directory and a simulator file, and summarize what the edge would enforce",
		Long: `validate loads the Cloudflare Terraform in DIR and the simulator file FILE
the way 'edged run' does. It prints every problem as file:line:col: message
on stderr and exits 1 if any is an error; otherwise it prints the warnings,
then a summary on stdout (policies per filter, the client-session duration
of each l4/http allow policy, Access device identity, identity providers)
and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case tfDir == "":
				return usageError{errors.New(`--terraform is empty: pass the directory that holds your .tf files, e.g. --terraform examples/acme`)}
			case simFile == "":
				return usageError{errors.New(`--sim is empty: pass the simulator file, e.g. --sim examples/acme/simulator.hcl`)}
			}
			return validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), tfDir, simFile)
		},
	}
	cmd.Flags().StringVar(&tfDir, "terraform", "", "directory of Cloudflare Terraform (.tf) files")
	cmd.Flags().StringVar(&simFile, "sim", "", "simulator file (HCL)")
	_ = cmd.MarkFlagRequired("terraform")
	_ = cmd.MarkFlagRequired("sim")
	return cmd
}

// validate loads both files, prints every diagnostic to stderr and, when
// none is an error, the summary to stdout. The cross-checks of Link run
// only when both loads succeeded: after a failure they would report what
// is merely unread (an idp.plays naming an identity provider in a file
// that did not parse, a record missing from a simulator file that did not).
func validate(stdout, stderr io.Writer, tfDir, simFile string) error {
	cfg, diags := tfconfig.Load(tfDir)
	sim, simDiags := tfconfig.LoadSim(simFile)
	diags = append(diags, simDiags...)
	if !diags.HasErrors() {
		diags = append(diags, tfconfig.Link(cfg, sim)...)
	}
	for _, d := range diags {
		fmt.Fprintln(stderr, d)
	}
	if diags.HasErrors() {
		return errInvalid
	}
	writeSummary(stdout, cfg, sim)
	return nil
}
