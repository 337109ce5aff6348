package bench

import (
	"fmt"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// changedEndpointIP is the new address of the endpoint the scenario
// changes; it is outside every address the generator hands out.
var changedEndpointIP = offset(podBase, 0xff0001)

// Scenario is the sequence of models one benchmark applies: the full
// cluster, then one small change after another, each built on the last.
type Scenario struct {
	// Initial is the generated cluster.
	Initial *model.Model
	// EndpointChanged has the first endpoint of the first Service moved to
	// another IP.
	EndpointChanged *model.Model
	// ServiceAdded has one more Service, built as the generator would.
	ServiceAdded *model.Model
	// ServiceRemoved has the first Service and its endpoints removed.
	ServiceRemoved *model.Model
}

// BuildScenario generates the cluster of a mix and builds the IPv4 model
// of each step of the scenario, as svcproxy run does: the first in full,
// each later one rebuilding only the Services it changes, so unchanged
// Services keep their ports from step to step. A generated object the
// model rejects is an error: the benchmark would otherwise measure less
// than it claims.
func BuildScenario(m Mix) (*Scenario, error) {
	in, err := Generate(m)
	if err != nil {
		return nil, err
	}
	first := model.ServiceKey{Namespace: Namespace, Name: serviceName(0)}
	added := model.ServiceKey{Namespace: Namespace, Name: serviceName(m.Services)}
	changed := withEndpointChanged(in)
	withAdded := withServiceAdded(changed, m)
	steps := []struct {
		in      model.Input
		changed []model.ServiceKey
	}{
		{in, nil},
		{changed, []model.ServiceKey{first}},
		{withAdded, []model.ServiceKey{added}},
		{withFirstServiceRemoved(withAdded), []model.ServiceKey{first}},
	}
	b := model.NewBuilder(Config())
	models := make([]*model.Model, len(steps))
	for i, step := range steps {
		built, warnings := b.Update(step.in, model.ChangesIn(step.in, step.changed))
		if models[i], err = ipv4Of(built, warnings); err != nil {
			return nil, err
		}
	}
	return &Scenario{Initial: models[0], EndpointChanged: models[1], ServiceAdded: models[2], ServiceRemoved: models[3]}, nil
}

// ipv4Of returns the IPv4 model of a build without warnings.
func ipv4Of(models []*model.Model, warnings []model.Warning) (*model.Model, error) {
	if len(warnings) > 0 {
		return nil, fmt.Errorf("building the model: %d warnings, the first: %v", len(warnings), warnings[0])
	}
	for _, m := range models {
		if m.Family == model.IPv4 {
			return m, nil
		}
	}
	return nil, fmt.Errorf("building the model: no IPv4 model")
}

// withEndpointChanged returns in with the first endpoint of the first
// EndpointSlice moved to changedEndpointIP. The slice is copied; in is
// not modified.
func withEndpointChanged(in model.Input) model.Input {
	out := in
	out.EndpointSlices = slices.Clone(in.EndpointSlices)
	s := out.EndpointSlices[0].DeepCopy()
	s.Endpoints[0].Addresses = []string{changedEndpointIP.String()}
	out.EndpointSlices[0] = s
	return out
}

// withServiceAdded returns in with the Service the generator would make
// next, and its EndpointSlice.
func withServiceAdded(in model.Input, m Mix) model.Input {
	out := in
	out.Services = append(slices.Clone(in.Services), m.service(m.Services))
	out.EndpointSlices = append(slices.Clone(in.EndpointSlices), m.slice(m.Services))
	return out
}

// withFirstServiceRemoved returns in without its first Service and that
// Service's EndpointSlice.
func withFirstServiceRemoved(in model.Input) model.Input {
	out := in
	out.Services = slices.Clone(in.Services[1:])
	out.EndpointSlices = slices.Clone(in.EndpointSlices[1:])
	return out
}
