using static TorchSharp.torch;

namespace Mamba.Benchmarks;

/// <summary>Times one differentiable operation: its forward under no_grad, and its forward with autograd plus
/// torch.autograd.grad of every input; medians over the reps after the warm-up.</summary>
public static class ForwardBackwardTimer
{
    public static (double ForwardMs, double TotalMs) Measure(Func<Tensor> forward, Tensor[] differentiable, Tensor dout,
        BenchmarkOptions o, DeviceClock clock)
    {
        var fwd = new List<double>();
        var total = new List<double>();
        for (int i = 0; i < o.Warmup + o.Reps; i++)
        {
            using (NewDisposeScope())
            using (no_grad())
            {
                clock.Start();
                forward();
                double ms = clock.ElapsedMs();
                if (i >= o.Warmup) fwd.Add(ms);
            }
            using (NewDisposeScope())
            {
                clock.Start();
                var y = forward();
                autograd.grad(new[] { y }, differentiable, new[] { dout });
                double ms = clock.ElapsedMs();
                if (i >= o.Warmup) total.Add(ms);
            }
        }
        return (DeviceClock.Median(fwd), DeviceClock.Median(total));
    }
}
