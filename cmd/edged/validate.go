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
		Use:   "validate [DIR | --terraform DIR] [--sim FILE]",
		Short: "Check a Terraform directory (and a simulator file), and summarize what the edge would enforce",
		Long: `validate loads the Cloudflare Terraform in DIR the way 'edged run' does,
and with --sim the simulator file FILE too, checking that the two fit
together. Without --sim it checks the Terraform alone, as 'terraform
validate' does. It prints every problem as file:line:col: message on stderr
and exits 1 if any is an error; otherwise it prints the warnings, then a
summary on stdout (policies per filter, the client-session duration of each
l4/http allow policy, Access device identity, identity providers) and exits
0.`,
		Example: `  edged validate examples/acme
  edged validate --terraform examples/acme --sim examples/acme/simulator.hcl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if tfDir != "" && tfDir != args[0] {
					return usageError{fmt.Errorf("two directories: %q and --terraform %q; pass one", args[0], tfDir)}
				}
				tfDir = args[0]
			}
			if tfDir == "" && cmd.Flags().Changed("terraform") {
				return usageError{errors.New(`--terraform is empty: pass the directory that holds your .tf files, e.g. --terraform examples/acme`)}
			}
			if tfDir == "" {
				return usageError{errors.New("no Terraform directory: pass the directory that holds your .tf files, e.g. edged validate examples/acme")}
			}
			if cmd.Flags().Changed("sim") && simFile == "" {
				return usageError{errors.New(`--sim is empty: pass the simulator file, e.g. --sim examples/acme/simulator.hcl, or leave --sim out to check the Terraform alone`)}
			}
			return validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), tfDir, simFile)
		},
	}
	cmd.Flags().StringVar(&tfDir, "terraform", "", "directory of Cloudflare Terraform (.tf) files (or pass it as the argument)")
	cmd.Flags().StringVar(&simFile, "sim", "", "simulator file (HCL); without it the Terraform is checked alone")
	return cmd
}

// validate loads the Terraform and, when simFile is set, the simulator
// file, prints every diagnostic to stderr and, when none is an error, the
// summary to stdout. The cross-checks of Link run only when both loads
// succeeded: after a failure they would report what is merely unread (an
// idp.plays naming an identity provider in a file that did not parse, a
// record missing from a simulator file that did not).
func validate(stdout, stderr io.Writer, tfDir, simFile string) error {
	cfg, diags := tfconfig.Load(tfDir)
	var sim *tfconfig.Sim
	if simFile != "" {
		var simDiags tfconfig.Diagnostics
		sim, simDiags = tfconfig.LoadSim(simFile)
		diags = append(diags, simDiags...)
		if !diags.HasErrors() {
			diags = append(diags, tfconfig.Link(cfg, sim)...)
		}
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
