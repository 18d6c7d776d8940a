"""The rehearsal cluster: a real Kubernetes control plane on the loopback with kwok's simulated
GPU, MIG and CPU nodes (controlplane), its certificates (pki), nodes and kwok stages (fleet) and
the CRDs the chart's scenarios use (crds). docs/cluster-rehearsal.md is the user's guide."""
