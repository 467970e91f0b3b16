// Pretrains a Mamba language model on your own unlabeled text and saves it as a Hugging Face-layout folder that
// records its tokenizer (MambaLanguageModelFolder), ready for fine-tuning or generation.
//
//   bash examples/Pretraining/fetch-corpus.sh        # the English corpus this example uses by default (see DATA.md)
//   dotnet run -c Release --project examples/Pretraining -- [--corpus DIR|FILE]... [--tokenizer gpt2|bytes|PATH]
//       [--architecture mamba1|mamba2] [--head-dim 64] [--hidden 256] [--layers 4] [--state 16] [--block 256]
//       [--batch 16] [--lr 1e-3] [--steps 1000]
//       [--warmup STEPS] [--time-limit-minutes M] [--device cpu|cuda] [--dtype fp32|bf16] [--out DIR] [--resume]
//       [--eval-every 200] [--eval-tokens 65536] [--checkpoint-every 500] [--heldout 0.01] [--seed 0]
//       [--workers N] [--threads N]
//
// Writes under --out (default examples/Pretraining/output/run): data/ (packed tokens), checkpoint/, loss.csv,
// loss.png and model/ (config.json, model.safetensors, tokenizer record, training_summary.json).
// --architecture mamba2 trains Mamba-2 mixers (heads of --head-dim channels, which must divide 2 × --hidden; one group);
// --state sets N for either (Mamba-2 models commonly use 64 or 128).
using System.Diagnostics;
using Microsoft.ML.Mamba.Examples.Pretraining;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.LanguageModeling.Pretraining;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

var flags = Flags.Parse(args);
string exampleDir = FindExampleDirectory();
var corpus = flags.All("--corpus");
if (corpus.Count == 0)
{
    string fetched = Path.Combine(exampleDir, "data", "corpus");
    if (!Directory.Exists(fetched)) Fail<int>($"No --corpus given and {fetched} does not exist: run examples/Pretraining/fetch-corpus.sh first, or pass --corpus.");
    corpus.Add(fetched);
}
string tokenizerName = flags.String("--tokenizer", "gpt2");
int hidden = flags.Int("--hidden", 256), layers = flags.Int("--layers", 4), stateSize = flags.Int("--state", 16);
int steps = flags.Int("--steps", 1000), seed = flags.Int("--seed", 0);
string architectureName = flags.String("--architecture", "mamba1");
var architecture = architectureName switch
{
    "mamba1" => MambaArchitecture.Mamba1,
    "mamba2" => MambaArchitecture.Mamba2,
    _ => Fail<MambaArchitecture>($"--architecture must be mamba1 or mamba2, not '{architectureName}'."),
};
if (architecture == MambaArchitecture.Mamba1 && flags.Has("--head-dim")) Fail<int>("--head-dim is for --architecture mamba2 only.");
int headDim = flags.Int("--head-dim", 64);
string deviceName = flags.String("--device", "cpu"), dtypeName = flags.String("--dtype", deviceName == "cuda" ? "bf16" : "fp32");
string output = Path.GetFullPath(flags.String("--out", Path.Combine(exampleDir, "output", "run")));
bool resume = flags.Has("--resume");
if (deviceName == "cpu") set_num_threads(flags.Int("--threads", 1));   // small tensors: more threads mostly wait on each other
var device = deviceName switch
{
    "cpu" => CPU,
    "cuda" when cuda.is_available() => CUDA,
    "cuda" => Fail<Device>("--device cuda, but TorchSharp finds no CUDA device (build with -p:MambaTorchBackend=cuda)."),
    _ => Fail<Device>($"--device must be cpu or cuda, not '{deviceName}'."),
};
var dtype = dtypeName switch
{
    "fp32" => ScalarType.Float32,
    "bf16" => ScalarType.BFloat16,
    _ => Fail<ScalarType>($"--dtype must be fp32 or bf16, not '{dtypeName}'."),
};

// 1. Tokenizer, and the corpus tokenized into packed token files (reused on --resume when made by the same tokenizer).
string? tokenizerPath = tokenizerName is "gpt2" or "bytes" ? null : Path.GetFullPath(tokenizerName);
IMambaTokenizer tokenizer = tokenizerName switch
{
    "gpt2" => MambaTokenizers.Gpt2(),
    "bytes" => MambaTokenizers.Bytes(),
    _ => MambaTokenizers.FromHuggingFace(tokenizerPath!),
};
string identity = PretrainingData.TokenizerIdentity(tokenizer, tokenizerPath);
string dataDir = Path.Combine(output, "data");
Directory.CreateDirectory(output);
PretrainingData data;
if (resume && SameTokenizer(Path.Combine(dataDir, PretrainingData.TrainFileName), identity))
{
    data = PretrainingData.Open(dataDir);
    Console.WriteLine($"Data: reusing {dataDir} ({data.TrainTokens:N0} training and {data.HeldOutTokens:N0} held-out tokens, {identity})");
}
else
{
    var files = PretrainingCorpus.Files(corpus);
    Console.WriteLine($"Corpus: {files.Count} file(s): {string.Join(", ", files.Select(Path.GetFileName).Take(8))}{(files.Count > 8 ? ", …" : "")}");
    var watch = Stopwatch.StartNew();
    data = PretrainingData.Prepare(PretrainingCorpus.ReadLines(corpus), tokenizer, dataDir, new PretrainingDataOptions
    {
        Workers = flags.Int("--workers", Environment.ProcessorCount), HeldOutFraction = flags.Double("--heldout", 0.01), TokenizerIdentity = identity,
    });
    Console.WriteLine($"Tokenized {data.Documents:N0} documents with {identity} in {watch.Elapsed.TotalSeconds:F1} s: " +
                      $"{data.TrainTokens:N0} training tokens, {data.HeldOutTokens:N0} held-out tokens (every {Math.Round(1 / flags.Double("--heldout", 0.01))}th document)");
}
using var train = PackedTokenFile.Open(data.TrainPath);
using var heldOut = data.HeldOutTokens > 0 ? PackedTokenFile.Open(data.HeldOutPath) : null;

// 2. The model: the vocabulary rounded up to a multiple of 8 (faster matrix shapes; the extra rows are never targets).
var config = new MambaConfig
{
    VocabSize = (tokenizer.VocabularySize + 7) / 8 * 8, HiddenSize = hidden, NumHiddenLayers = layers, StateSize = stateSize,
    PadTokenId = tokenizer.PadTokenId, BosTokenId = tokenizer.BosTokenId, EosTokenId = tokenizer.EosTokenId,
};
if (architecture == MambaArchitecture.Mamba2)
{
    config.Architecture = MambaArchitecture.Mamba2;
    config.HeadDim = headDim;
    config.NGroups = 1;
}
try
{
    config.Validate();
}
catch (ArgumentException e)
{
    Fail<int>($"Model options: {e.Message} (--hidden {hidden}, --state {stateSize}{(architecture == MambaArchitecture.Mamba2 ? $", --head-dim {headDim}" : "")}).");
}
manual_seed(seed);   // one thread builds the model here, so seeding the global generator is enough
var model = new MambaForCausalLM(config);
Console.WriteLine($"Model: {architectureName}, {layers} layers, hidden {hidden}, state {stateSize}" +
                  (architecture == MambaArchitecture.Mamba2 ? $", {config.Heads} heads of {headDim}" : "") + $", vocabulary {config.VocabSize:N0}: " +
                  $"{model.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters; {deviceName}, {dtypeName}" +
                  (deviceName == "cpu" ? $", {get_num_threads()} thread(s)" : ""));

// 3. Pretraining, with a progress line, checkpoints and held-out loss.
var bar = new ProgressLine();
double? limitMinutes = flags.Has("--time-limit-minutes") ? flags.Double("--time-limit-minutes", 0) : null;
var options = new PretrainingOptions
{
    BlockLength = flags.Int("--block", 256), BatchSize = flags.Int("--batch", 16), MaxSteps = steps,
    LearningRate = flags.Double("--lr", 1e-3), WarmupFraction = Math.Min(flags.Int("--warmup", Math.Min(100, steps / 10)), steps - 1) / (double)steps,
    TimeLimit = limitMinutes is double m ? TimeSpan.FromMinutes(m) : null,
    Seed = seed, Device = device, DType = dtype, WorkingDirectory = output, Resume = resume,
    EvaluateEvery = flags.Int("--eval-every", 200), EvaluationTokens = flags.Int("--eval-tokens", 65_536),
    CheckpointEvery = flags.Int("--checkpoint-every", 500), ReportEvery = 10, Progress = bar,
};
var trainer = new Pretrainer(model, options);
if (heldOut is not null && !resume) Console.WriteLine($"Held-out loss before training: {trainer.Evaluate(heldOut):F3}");
var result = trainer.Train(train, heldOut);
bar.Finish();
Console.WriteLine($"Trained {result.Steps:N0} steps{(result.ResumedFromStep > 0 ? $" (resumed at step {result.ResumedFromStep:N0})" : "")}, " +
                  $"{result.Tokens:N0} tokens in {result.Elapsed:hh\\:mm\\:ss} ({result.TokensPerSecond:N0} tokens/s this run; stopped by {result.StopReason})");
Console.WriteLine($"Final training loss {result.FinalTrainLoss:F3}" +
                  (result.FinalHeldOutLoss is double h ? $", held-out loss {h:F3} (perplexity {result.HeldOutPerplexity:F2} per token)" : ""));

// 4. The model folder, the loss plot and a few samples.
string modelDir = Path.Combine(output, "model");
Pretrainer.SaveModel(modelDir, model, tokenizer, result, tokenizerPath, "dotnet run --project examples/Pretraining -- " + string.Join(' ', args));
string png = Path.Combine(output, "loss.png");
LossPlot.Save(Path.Combine(output, Pretrainer.LossHistoryFile), png, $"Mamba pretraining: {layers} layers, hidden {hidden}, {identity}");
Console.WriteLine($"Saved {modelDir} (+ {Pretrainer.SummaryFile}); loss history {Path.Combine(output, Pretrainer.LossHistoryFile)}, plot {png}");

var generator = new MambaGenerator(model, tokenizer);
foreach (var prompt in new[] { "It is a truth universally acknowledged", "And God said,", "The food was" })
{
    var sample = generator.Generate(prompt, new SamplingOptions { Temperature = 0.8f, TopP = 0.95f, Seed = seed + prompt.Length, MaxNewTokens = 40 });
    Console.WriteLine($"  {prompt}|{sample.Text.ReplaceLineEndings(" ")}");
}

static bool SameTokenizer(string path, string identity)
{
    if (!File.Exists(path)) return false;
    try
    {
        using var file = PackedTokenFile.Open(path);
        return file.TokenizerIdentity == identity;
    }
    catch (InvalidDataException)
    {
        return false;   // a half-written file from an interrupted run: tokenize again
    }
}

static string FindExampleDirectory()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Pretraining.csproj"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

static T Fail<T>(string message)
{
    Console.Error.WriteLine(message);
    Environment.Exit(2);
    return default!;
}
