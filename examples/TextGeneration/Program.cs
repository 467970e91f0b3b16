// Trains a small Mamba language model on the King James Bible and generates from it.
//
//   dotnet run -c Release --project examples/TextGeneration -- [--steps 2000] [--minutes 3] [--hidden 128] [--layers 4]
//       [--block 64] [--batch 16] [--lr 5e-3] [--tokenizer bytes|gpt2] [--seed 0] [--threads 1]
//
// On first use it runs fetch-kjv.sh, which takes the text from Debian's bible-kjv-text package into data/ (not committed).
using System.Diagnostics;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.LanguageModeling;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;
using static TorchSharp.torch;

int steps = IntArg("--steps", 2000), hidden = IntArg("--hidden", 128), layers = IntArg("--layers", 4);
int blockLength = IntArg("--block", 64), batchSize = IntArg("--batch", 16), seed = IntArg("--seed", 0);
double minutes = double.Parse(StringArg("--minutes", "3")), learningRate = double.Parse(StringArg("--lr", "5e-3"));
string tokenizerName = StringArg("--tokenizer", "bytes");
// One thread by default: this model's tensors are too small to gain from more, and on a shared machine OpenMP
// threads waiting for each other cost up to 4x (measured here: 1,981 vs 451 training tokens/s).
set_num_threads(IntArg("--threads", 1));

string exampleDir = FindExampleDirectory();
string corpus = Path.Combine(exampleDir, "data", "kjv.txt");
if (!File.Exists(corpus)) Fetch(Path.Combine(exampleDir, "fetch-kjv.sh"), corpus);
var verses = File.ReadAllLines(corpus);
IMambaTokenizer tokenizer = tokenizerName == "gpt2" ? MambaTokenizers.Gpt2() : MambaTokenizers.Bytes();

manual_seed(seed);
var blocks = TokenBlocks.FromTexts(verses, tokenizer, blockLength);
var (train, validation) = blocks.Split(0.002);   // ~8K bytes: evaluation stays quick on a CPU
Console.WriteLine($"Corpus: King James Bible, {verses.Length:N0} verses, {blocks.TokenCount:N0} {tokenizerName} tokens " +
                  $"({train.TokenCount:N0} train, {validation.TokenCount:N0} validation: the end of Revelation)");

var config = new MambaConfig
{
    VocabSize = tokenizer.VocabularySize, HiddenSize = hidden, NumHiddenLayers = layers, StateSize = 16,
    PadTokenId = tokenizer.PadTokenId, BosTokenId = tokenizer.BosTokenId, EosTokenId = tokenizer.EosTokenId,
};
var model = new MambaForCausalLM(config);
Console.WriteLine($"Model: {layers} layers, hidden {hidden}, state 16, vocab {config.VocabSize}, " +
                  $"{model.parameters().Sum(p => p.numel()) / 1e6:F2}M parameters; CPU, {get_num_threads()} threads");

var options = new LanguageModelTrainingOptions
{
    BlockLength = blockLength, BatchSize = batchSize, MaxSteps = steps, LearningRate = learningRate, WarmupFraction = Math.Min(30, steps / 10) / (double)steps,
    TimeLimit = TimeSpan.FromMinutes(minutes), Seed = seed,
    Progress = new Progress<LanguageModelTrainingProgress>(p =>
        Console.WriteLine($"  step {p.Step,4}/{p.TotalSteps}  loss {p.Loss:F3}  {p.TokensPerSecond,6:F0} tokens/s")),
};
var trainer = new LanguageModelTrainer(model, options);
double before = trainer.Loss(validation);
Console.WriteLine($"Validation perplexity before training: {Math.Exp(before):F2}");
var result = trainer.Train(train);
double after = trainer.Loss(validation);
Console.WriteLine($"Trained {result.Steps} steps ({result.Tokens:N0} tokens) in {result.Elapsed:mm\\:ss}: {result.TokensPerSecond:F0} training tokens/s");
Console.WriteLine($"Validation perplexity: {Math.Exp(after):F2} per {tokenizerName} token" +
                  (tokenizerName == "bytes" ? $" ({after / Math.Log(2):F3} bits per byte)" : "") + $", loss {after:F3}");

string output = Path.Combine(exampleDir, "output", "kjv-mamba");
model.SavePretrained(output);
Console.WriteLine($"Saved to {output}");

var generator = new MambaGenerator(model, tokenizer);
string[] prompts = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the"];
var sampling = new SamplingOptions { Temperature = 0.8f, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 1, MaxNewTokens = 150 };
var watch = Stopwatch.StartNew();
var samples = generator.Generate(prompts, sampling);
double seconds = watch.Elapsed.TotalSeconds;
int newTokens = samples.Sum(s => s.TokenIds.Count);
Console.WriteLine($"\nSamples (temperature 0.8, top-p 0.95, repetition penalty 1.1, batch of {prompts.Length}; " +
                  $"{newTokens} tokens in {seconds:F2} s = {newTokens / seconds:F0} tokens/s, prefill included):");
foreach (var s in samples) Console.WriteLine($"  [{s.FinishReason}] {s.Prompt}{s.Text}");

Console.WriteLine("\nGreedy:");
var greedy = generator.Generate("And God said,", SamplingOptions.Greedy(120));
Console.WriteLine($"  [{greedy.FinishReason}] And God said,{greedy.Text}");

Console.Write("\nStreaming (temperature 0.7, seed 2): For God so loved");
watch.Restart();
int pieces = 0;
await foreach (var piece in generator.StreamAsync("For God so loved", new SamplingOptions { Temperature = 0.7f, TopK = 40, Seed = 2, MaxNewTokens = 150 }))
{
    Console.Write(piece);
    pieces++;
}
Console.WriteLine($"\n  ({pieces} pieces in {watch.Elapsed.TotalSeconds:F2} s)");

int IntArg(string name, int fallback) => int.Parse(StringArg(name, fallback.ToString()));
string StringArg(string name, string fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

// The example's own folder (data/ and output/ live there), from the build output or the source tree.
static string FindExampleDirectory()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "TextGeneration.csproj"))) return dir.FullName;
    return AppContext.BaseDirectory;
}

static void Fetch(string script, string corpus)
{
    Console.WriteLine($"Fetching the corpus with {script} ...");
    using var process = Process.Start(new ProcessStartInfo("bash", [script, corpus]))!;
    process.WaitForExit();
    if (process.ExitCode != 0 || !File.Exists(corpus))
        throw new InvalidOperationException($"{script} failed (exit code {process.ExitCode}); run it by hand to see why.");
}
