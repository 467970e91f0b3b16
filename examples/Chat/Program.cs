// A Mamba language model through Microsoft.Extensions.AI: IChatClient streaming and IEmbeddingGenerator.
//
//   dotnet run -c Release --project examples/Chat -- [model-folder] [prompt]
//
// The folder is one written by MambaLanguageModelFolder.Save, MambaLanguageModelTransformer.SavePretrained, or a Hugging Face
// Mamba checkpoint with its tokenizer files. Without one, a tiny random byte-level model stands in (its text is noise).
using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Generation;
using Microsoft.ML.Mamba.Modeling;
using Microsoft.ML.Mamba.Text;

MambaChatClient client;
if (args.Length > 0)
{
    client = MambaChatClient.FromPretrained(args[0]);   // the folder's tokenizer record and chat_template, when it has one
}
else
{
    var tokenizer = MambaTokenizers.Bytes();
    var config = new MambaConfig { VocabSize = tokenizer.VocabularySize, HiddenSize = 64, NumHiddenLayers = 2 };
    client = new MambaChatClient(new MambaGenerator(new MambaForCausalLM(config), tokenizer), new MambaChatClientOptions { ModelId = "tiny-random" });
}
string question = args.Length > 1 ? args[1] : "What is a state space model?";

IChatClient chat = client;
List<ChatMessage> history = [new(ChatRole.User, question)];
Console.WriteLine($"[{chat.GetService<ChatClientMetadata>()!.DefaultModelId}] User: {question}");
Console.Write("Assistant: ");
var updates = new List<ChatResponseUpdate>();
await foreach (var update in chat.GetStreamingResponseAsync(history, new ChatOptions { Temperature = 0.7f, TopP = 0.9f, MaxOutputTokens = 80, Seed = 1 }))
{
    Console.Write(update.Text);
    updates.Add(update);
}
var response = updates.ToChatResponse();
Console.WriteLine($"\n(finish: {response.FinishReason}, tokens in/out: {response.Usage?.InputTokenCount}/{response.Usage?.OutputTokenCount})");

using IEmbeddingGenerator<string, Embedding<float>> embedder = new MambaEmbeddingGenerator(client.Generator.Model, client.Generator.Tokenizer);
var embeddings = await embedder.GenerateAsync(["a selective state space model", "a recurrent network with input-dependent gates", "the price of bread"]);
for (int i = 1; i < embeddings.Count; i++)
{
    float cosine = 0;   // the embeddings have unit length
    for (int d = 0; d < embeddings[0].Vector.Length; d++) cosine += embeddings[0].Vector.Span[d] * embeddings[i].Vector.Span[d];
    Console.WriteLine($"cosine(0, {i}) = {cosine:F3}  ({embeddings[i].Vector.Length} dimensions)");
}
