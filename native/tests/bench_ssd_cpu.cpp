// Mamba-2 SSD CPU benchmark: forward and backward time of the library kernels (fp32, with D, dt_bias, softplus, as
// in a Mamba2 block) for several chunk lengths, next to the Mamba-1 selective scan at equal (batch, length, inner)
// and state 16. Times are process CPU time (best of 5). Usage: bench_ssd_cpu [batch length heads head_dim state [threads]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>
#include "mamba_native.h"

namespace {
// Best of `reps` in process CPU time (all threads): on a shared machine it counts only the cycles this process got,
// so with one thread it is the fair per-core figure; wall time there mostly measures the other tenants.
double cpu_now_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
template <class F> double best_ms(int reps, F&& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = cpu_now_ms();
    f();
    best = std::min(best, cpu_now_ms() - t0);
  }
  return best;
}
std::vector<float> rnd(size_t n, float scale, float shift, std::mt19937& g) {
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = shift + scale * d(g);
  return v;
}
void check(int rc) {
  if (rc != MAMBA_OK) { std::fprintf(stderr, "error: %s\n", mamba_last_error()); std::exit(1); }
}
}  // namespace

int main(int argc, char** argv) {
  int64_t Bt = 1, L = 1024, H = 8, P = 64, N = 64;
  if (argc >= 6) Bt = atoll(argv[1]), L = atoll(argv[2]), H = atoll(argv[3]), P = atoll(argv[4]), N = atoll(argv[5]);
  if (argc >= 7) mamba_set_num_threads(atoi(argv[6]));
  const int64_t G = 1, E = H * P;
  std::mt19937 g(1);
  auto x = rnd(Bt * L * E, 1, 0, g), dt = rnd(Bt * L * H, 0.5f, 0, g), Bm = rnd(Bt * L * G * N, 0.5f, 0, g),
       Cm = rnd(Bt * L * G * N, 0.5f, 0, g), A = rnd(H, 0.3f, -1, g), D = rnd(H, 1, 0, g), bias = rnd(H, 0.3f, -1, g);
  auto dy = rnd(Bt * L * E, 1, 0, g);
  std::vector<float> y(x.size()), fin(Bt * H * P * N), dx(x.size()), ddt(dt.size()), dA(H), dB(Bm.size()), dC(Cm.size()),
      dD(H), dbias(H);
  mamba_ssd_args a{};
  a.batch = Bt, a.length = L, a.heads = H, a.head_dim = P, a.groups = G, a.state = N;
  a.dtype = MAMBA_F32, a.dt_softplus = 1, a.dt_min = 0.f, a.dt_max = INFINITY;
  const int64_t xs[4] = {L * E, E, P, 1}, ts[3] = {L * H, H, 1}, bs[4] = {L * G * N, G * N, N, 1};
  a.x = x.data(), a.dt = dt.data(), a.A = A.data(), a.B = Bm.data(), a.C = Cm.data(), a.D = D.data(), a.dt_bias = bias.data();
  std::copy(xs, xs + 4, a.x_stride), std::copy(ts, ts + 3, a.dt_stride), std::copy(bs, bs + 4, a.B_stride), std::copy(bs, bs + 4, a.C_stride);
  mamba_ssd_outputs o{};
  o.y = y.data(), o.final_state = fin.data();
  std::copy(xs, xs + 4, o.y_stride);
  mamba_ssd_grads gr{};
  gr.dy = dy.data(), gr.dx = dx.data(), gr.ddt = ddt.data(), gr.dA = dA.data(), gr.dB = dB.data(), gr.dC = dC.data();
  gr.dD = dD.data(), gr.ddt_bias = dbias.data();
  std::copy(xs, xs + 4, gr.dy_stride), std::copy(xs, xs + 4, gr.dx_stride), std::copy(ts, ts + 3, gr.ddt_stride);
  std::copy(bs, bs + 4, gr.dB_stride), std::copy(bs, bs + 4, gr.dC_stride);
  // State updates as the unit: batch x length x heads x head_dim x state.
  const double updates = double(Bt) * L * E * N;
  std::printf("SSD fp32 batch %lld length %lld heads %lld head_dim %lld state %lld\n", (long long)Bt, (long long)L,
              (long long)H, (long long)P, (long long)N);
  for (int64_t chunk : {1, 8, 16, 32, 64, 128, 256}) {
    a.chunk = chunk;
    const double f = best_ms(5, [&] { check(mamba_ssd_fwd_cpu(&a, &o)); });
    const double b = best_ms(5, [&] { check(mamba_ssd_bwd_cpu(&a, &gr)); });
    std::printf("  chunk %4lld: fwd %8.2f ms (%.2f G updates/s)  bwd %8.2f ms (%.2f G updates/s)\n", (long long)chunk, f,
                updates / f * 1e-6, b, updates / b * 1e-6);
  }
  // The decode step at these sizes, one token per sequence (conv width 4).
  {
    const int64_t W = 4, K = E + 2 * G * N;
    auto xBC = rnd(Bt * K, 1, 0, g), sdt = rnd(Bt * H, 0.5f, 0, g), conv = rnd(Bt * K * W, 1, 0, g), cw = rnd(K * W, 0.5f, 0, g);
    auto cb = rnd(K, 0.1f, 0, g), alog = rnd(H, 0.3f, 0, g), ssm = rnd(Bt * H * P * N, 0.1f, 0, g);
    std::vector<float> out(Bt * E);
    mamba_ssd_step_args st{};
    st.batch = Bt, st.heads = H, st.head_dim = P, st.groups = G, st.state = N, st.width = W;
    st.dtype = MAMBA_F32, st.dt_softplus = 1, st.dt_min = 0.f, st.dt_max = INFINITY;
    st.xBC = xBC.data(), st.xBC_stride[0] = K, st.xBC_stride[1] = 1;
    st.dt = sdt.data(), st.dt_stride[0] = H, st.dt_stride[1] = 1;
    st.conv_state = conv.data(), st.conv_state_stride[0] = K * W, st.conv_state_stride[1] = W, st.conv_state_stride[2] = 1;
    st.conv_weight = cw.data(), st.conv_bias = cb.data(), st.dt_bias = bias.data(), st.A_log = alog.data(), st.D = D.data();
    st.ssm_state = ssm.data(), st.out = out.data(), st.out_stride[0] = E, st.out_stride[1] = 1;
    const double ms = best_ms(5, [&] {
      for (int i = 0; i < 100; ++i) check(mamba_ssd_step_cpu(&st));
    }) / 100;
    std::printf("  decode step: %.1f us per call (%.2f G state updates/s)\n", ms * 1e3, double(Bt) * E * N / ms * 1e-6);
  }
  // Mamba-1 at equal (batch, length, inner), state 16, no gate.
  const int64_t N1 = 16;
  auto u = rnd(Bt * E * L, 1, 0, g), delta = rnd(Bt * E * L, 0.5f, 0, g), A1 = rnd(E * N1, 0.3f, -1, g),
       B1 = rnd(Bt * N1 * L, 0.5f, 0, g), C1 = rnd(Bt * N1 * L, 0.5f, 0, g), D1 = rnd(E, 1, 0, g), bias1 = rnd(E, 0.3f, -1, g);
  auto dout = rnd(Bt * E * L, 1, 0, g);
  std::vector<float> out(u.size()), du(u.size()), ddelta(u.size()), dA1(A1.size()), dB1(B1.size()), dC1(C1.size()), dD1(E), db1(E);
  mamba_scan_args s{};
  s.batch = Bt, s.dim = E, s.length = L, s.state = N1, s.groups = 1, s.dtype = MAMBA_F32, s.bc_dtype = MAMBA_F32, s.delta_softplus = 1;
  const int64_t us[3] = {E * L, L, 1}, as[2] = {N1, 1}, b1s[4] = {N1 * L, 0, L, 1};
  s.u = u.data(), s.delta = delta.data(), s.A = A1.data(), s.B = B1.data(), s.C = C1.data(), s.D = D1.data(), s.delta_bias = bias1.data();
  std::copy(us, us + 3, s.u_stride), std::copy(us, us + 3, s.delta_stride), std::copy(as, as + 2, s.A_stride);
  std::copy(b1s, b1s + 4, s.B_stride), std::copy(b1s, b1s + 4, s.C_stride);
  mamba_scan_outputs so{};
  so.out = out.data();
  std::copy(us, us + 3, so.out_stride);
  mamba_scan_grads sg{};
  sg.dout = dout.data(), sg.du = du.data(), sg.ddelta = ddelta.data(), sg.dA = dA1.data(), sg.dB = dB1.data(), sg.dC = dC1.data();
  sg.dD = dD1.data(), sg.ddelta_bias = db1.data();
  std::copy(us, us + 3, sg.dout_stride), std::copy(us, us + 3, sg.du_stride), std::copy(us, us + 3, sg.ddelta_stride);
  std::copy(b1s, b1s + 4, sg.dB_stride), std::copy(b1s, b1s + 4, sg.dC_stride);
  const double f1 = best_ms(5, [&] { check(mamba_scan_fwd_cpu(&s, &so)); });
  const double b1 = best_ms(5, [&] { check(mamba_scan_bwd_cpu(&s, &sg)); });
  const double u1 = double(Bt) * L * E * N1;
  std::printf("Mamba-1 scan fp32 batch %lld length %lld dim %lld state 16: fwd %.2f ms (%.2f G updates/s)  bwd %.2f ms (%.2f G updates/s)\n",
              (long long)Bt, (long long)L, (long long)E, f1, u1 / f1 * 1e-6, b1, u1 / b1 * 1e-6);
}
