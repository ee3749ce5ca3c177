"""Reading finished runs: the ablation report."""
