namespace Microsoft.ML.Mamba.Tests.Infrastructure;

/// <summary>
/// Tests that bound what a load costs by measuring the whole process (working set, private memory, managed heap) or
/// the wall clock around it. A test running in parallel in the same process allocates into the same numbers, so these
/// run alone, after the parallel ones.
/// </summary>
[CollectionDefinition(nameof(ProcessWideMeasurements), DisableParallelization = true)]
public class ProcessWideMeasurements;
