package consensus

// Subsidy returns the new coins the coinbase of the block at height may
// claim: initial_subsidy >> (height / halving_interval), 0 once the shift
// reaches 64.
func Subsidy(params *Params, height uint64) uint64 {
	if params.HalvingInterval == 0 {
		return params.InitialSubsidy
	}
	halvings := height / params.HalvingInterval
	if halvings >= 64 {
		return 0
	}
	return params.InitialSubsidy >> halvings
}
