using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Microsoft.ML.Mamba.AI;

/// <summary>
/// Turns a conversation into the prompt text a language model continues. Base Mamba checkpoints were trained on plain
/// text and have no chat format, so <see cref="Simple"/> writes <c>User: …</c>/<c>Assistant: …</c> lines; chat-tuned
/// checkpoints carry a Jinja <c>chat_template</c> in tokenizer_config.json, which <see cref="FromTokenizerConfig"/> renders.
/// </summary>
public abstract class ChatPromptTemplate
{
    /// <summary>Texts that end the assistant's turn (added to the caller's stop sequences), e.g. the next user prefix.</summary>
    public virtual IReadOnlyList<string> StopSequences => [];

    /// <summary>Renders <paramref name="messages"/> (role and text) and, when <paramref name="addGenerationPrompt"/>, the start of the assistant's reply.</summary>
    /// <exception cref="InvalidOperationException">A Jinja template raised an error or passed its limits.</exception>
    public abstract string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true);

    /// <summary>
    /// A plain-text format for base models: each message as <c>{prefix}{text}{separator}</c>, then the assistant prefix.
    /// Generation stops where the model starts a new user line.
    /// </summary>
    /// <param name="userPrefix">Before user messages. Default <c>"User: "</c>.</param>
    /// <param name="assistantPrefix">Before assistant messages and the reply. Default <c>"Assistant: "</c>.</param>
    /// <param name="systemPrefix">Before system messages. Default <c>"System: "</c>.</param>
    /// <param name="separator">After every message. Default a newline.</param>
    public static ChatPromptTemplate Simple(string userPrefix = "User: ", string assistantPrefix = "Assistant: ",
        string systemPrefix = "System: ", string separator = "\n") =>
        new SimpleTemplate(userPrefix, assistantPrefix, systemPrefix, separator);

    /// <summary>
    /// A Hugging Face Jinja chat template. It sees <c>messages</c> (each with <c>role</c> and <c>content</c>),
    /// <c>bos_token</c>, <c>eos_token</c>, <c>add_generation_prompt</c> and <c>raise_exception</c>.
    /// </summary>
    /// <exception cref="NotSupportedException">The template uses Jinja beyond the supported subset; the message names the construct.</exception>
    public static ChatPromptTemplate FromJinja(string template, string? bosToken = null, string? eosToken = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        return new JinjaChatTemplate(JinjaTemplate.Parse(template), bosToken ?? "", eosToken ?? "");
    }

    /// <summary>
    /// The <c>chat_template</c> of <paramref name="directory"/>/tokenizer_config.json (a string, or the entry named
    /// <c>default</c> of a list), with its <c>bos_token</c> and <c>eos_token</c>; null when there is no such file or entry.
    /// </summary>
    /// <exception cref="InvalidDataException">tokenizer_config.json is not valid JSON; the message names the file.</exception>
    /// <exception cref="NotSupportedException">The template uses Jinja beyond the supported subset.</exception>
    public static ChatPromptTemplate? FromTokenizerConfig(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string path = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(path)) return null;
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("chat_template", out var template)) return null;
            string? source = template.ValueKind switch
            {
                JsonValueKind.String => template.GetString(),
                JsonValueKind.Array => template.EnumerateArray()
                    .Where(t => t.ValueKind == JsonValueKind.Object && t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default")
                    .Select(t => t.TryGetProperty("template", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null)
                    .FirstOrDefault(),
                _ => null,
            };
            return source is null ? null : FromJinja(source, TokenText(root, "bos_token"), TokenText(root, "eos_token"));
        }
    }

    // A special token is a string or an object whose "content" is the string.
    private static string? TokenText(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var token) ? null
        : token.ValueKind == JsonValueKind.String ? token.GetString()
        : token.ValueKind == JsonValueKind.Object && token.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
        : null;

    private sealed class SimpleTemplate(string user, string assistant, string system, string separator) : ChatPromptTemplate
    {
        public override IReadOnlyList<string> StopSequences { get; } = [separator + user.TrimEnd()];

        public override string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
        {
            ArgumentNullException.ThrowIfNull(messages);
            var text = new StringBuilder();
            foreach (var message in messages)
            {
                string prefix = message.Role == ChatRole.User ? user
                    : message.Role == ChatRole.Assistant ? assistant
                    : message.Role == ChatRole.System ? system
                    : message.Role.Value + ": ";
                text.Append(prefix).Append(message.Text).Append(separator);
            }
            if (addGenerationPrompt) text.Append(assistant);
            return text.ToString();
        }
    }

    private sealed class JinjaChatTemplate(JinjaTemplate template, string bos, string eos) : ChatPromptTemplate
    {
        public override string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
        {
            ArgumentNullException.ThrowIfNull(messages);
            var list = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role.Value, ["content"] = m.Text }).ToList();
            return template.Render(new Dictionary<string, object?>
            {
                ["messages"] = list, ["bos_token"] = bos, ["eos_token"] = eos, ["add_generation_prompt"] = addGenerationPrompt,
            });
        }
    }
}
