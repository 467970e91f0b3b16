using Microsoft.Extensions.AI;
using Microsoft.ML.Mamba.AI;
using Microsoft.ML.Mamba.Tests.Infrastructure;

namespace Microsoft.ML.Mamba.Tests.AI;

public class ChatPromptTemplateTests
{
    // Written for these tests in the style of the ChatML, Llama-2 and Zephyr templates found in tokenizer_config.json files.
    internal const string ChatMl =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private const string Llama2 =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
        "{% for message in loop_messages %}" +
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
        "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
        "{% else %}{% set content = message['content'] %}{% endif %}" +
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    // Multi-line: relies on trim_blocks and lstrip_blocks, as transformers renders templates.
    private const string Zephyr = """
        {% for message in messages %}
        {% if message['role'] == 'user' %}
        {{ '<|user|>\n' + message['content'] + eos_token }}
        {% elif message['role'] == 'system' %}
        {{ '<|system|>\n' + message['content'] + eos_token }}
        {% elif message['role'] == 'assistant' %}
        {{ '<|assistant|>\n'  + message['content'] + eos_token }}
        {% endif %}
        {% if loop.last and add_generation_prompt %}
        {{ '<|assistant|>' }}
        {% endif %}
        {% endfor %}
        """;

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello."), new(ChatRole.User, "Bye"),
    ];

    [Fact]
    public void ChatMlTemplateRendersEveryMessageAndTheGenerationPrompt()
    {
        var template = ChatPromptTemplate.FromJinja(ChatMl);
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" +
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", template.Render(Conversation));
        Assert.EndsWith("<|im_start|>user\nBye<|im_end|>\n", template.Render(Conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Llama2TemplateFoldsTheSystemMessageAndRaisesOnBadTurnOrder()
    {
        var template = ChatPromptTemplate.FromJinja(Llama2, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]", template.Render(Conversation));
        Assert.Equal("<s>[INST] Hi [/INST]", template.Render([new ChatMessage(ChatRole.User, "  Hi ")]));
        var e = Assert.Throws<InvalidOperationException>(() => template.Render([new ChatMessage(ChatRole.Assistant, "first")]));
        Assert.Contains("Conversation roles must alternate", e.Message);
    }

    [Fact]
    public void MultiLineTemplateFollowsTrimBlocksAndLstripBlocks()
    {
        var template = ChatPromptTemplate.FromJinja(Zephyr, eosToken: "</s>");
        Assert.Equal("<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n<|assistant|>\n",
            template.Render(Conversation));
    }

    [Fact]
    public void WhitespaceControlFiltersAndTestsWork()
    {
        const string source = """
            {%- for message in messages -%}
                {{- message.role ~ ': ' ~ message.content | trim ~ '\n' -}}
            {%- endfor -%}
            {%- if tools is defined and tools is not none %}tools{% endif -%}
            {{- messages | length -}}
            """;
        var template = ChatPromptTemplate.FromJinja(source);
        Assert.Equal("user: x\nassistant: y\n2", template.Render([new(ChatRole.User, " x "), new(ChatRole.Assistant, "y ")]));
    }

    [Theory]
    [InlineData("{% macro greet() %}hi{% endmacro %}", "macro")]
    [InlineData("{{ messages | tojson }}", "tojson")]
    [InlineData("{% for k, v in messages %}{% endfor %}", "unpacking")]
    [InlineData("{% set ns = namespace(found=false) %}", "namespace")]
    [InlineData("{% for m in messages %}", "endfor")]
    [InlineData("{{ x is odd }}", "odd")]
    public void UnsupportedConstructsAreNamed(string source, string named)
    {
        var e = Assert.Throws<NotSupportedException>(() => ChatPromptTemplate.FromJinja(source));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void RenderingIsBounded()
    {
        var many = Enumerable.Range(0, 50).Select(i => new ChatMessage(ChatRole.User, "m")).ToList();
        var loops = ChatPromptTemplate.FromJinja("{% for a in messages %}{% for b in messages %}{% for c in messages %}{% endfor %}{% endfor %}{% endfor %}");
        Assert.Contains("loop iterations", Assert.Throws<InvalidOperationException>(() => loops.Render(many)).Message);

        var big = Enumerable.Range(0, 100).Select(i => new ChatMessage(ChatRole.User, new string('x', 1000))).ToList();
        var output = ChatPromptTemplate.FromJinja("{% for a in messages %}{% for b in messages %}{{ b.content }}{% endfor %}{% endfor %}");
        Assert.Contains("characters", Assert.Throws<InvalidOperationException>(() => output.Render(big)).Message);
    }

    [Fact]
    public void SimpleTemplateWritesRolePrefixesAndStopsAtTheNextUserLine()
    {
        var template = ChatPromptTemplate.Simple();
        Assert.Equal("System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant: ", template.Render(Conversation));
        Assert.Equal(["\nUser:"], template.StopSequences);
    }

    [Fact]
    public void TokenizerConfigChatTemplateIsReadWithItsSpecialTokens()
    {
        using var folder = new TempDirectory();
        Assert.Null(ChatPromptTemplate.FromTokenizerConfig(folder.Path));
        File.WriteAllText(folder.File("tokenizer_config.json"), """{"bos_token": {"content": "<s>"}, "eos_token": "</s>"}""");
        Assert.Null(ChatPromptTemplate.FromTokenizerConfig(folder.Path));
        File.WriteAllText(folder.File("tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["bos_token"] = new Dictionary<string, string> { ["content"] = "<s>" }, ["eos_token"] = "</s>", ["chat_template"] = Llama2,
        }));
        var template = ChatPromptTemplate.FromTokenizerConfig(folder.Path);
        Assert.NotNull(template);
        Assert.Equal("<s>[INST] Hi [/INST] Yo </s>", template.Render([new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Yo")]));
    }
}
