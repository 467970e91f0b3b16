// Writes Microsoft.ML.Mamba.ModelLoaders.dll: an assembly with no code, only [assembly: LoadableClass(...)] attributes
// that tell ML.NET which type loads a Mamba transformer from a model zip. C# cannot write them itself, because
// LoadableClassAttribute is internal to Microsoft.ML.Core, so the metadata is written directly. The output is the
// same bytes on every run. Usage: ModelLoadersWriter <output.dll> "<type>, <assembly>|<user name>|<load name>"...
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ModelLoadersWriter <output.dll> \"<type>, <assembly>|<user name>|<load name>\"...");
    return 2;
}
string OutputFile = args[0];
var Loaders = args.Skip(1).Select(a => a.Split('|')).Select(p => p.Length == 3 ? p
    : throw new ArgumentException($"Expected '<type>, <assembly>|<user name>|<load name>', got '{string.Join('|', p)}'.")).ToArray();
const string name = "Microsoft.ML.Mamba.ModelLoaders";
const string signatureType = "Microsoft.ML.SignatureLoadModel, Microsoft.ML.Core, Version=1.0.0.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51";
var md = new MetadataBuilder();
md.AddModule(0, md.GetOrAddString(name + ".dll"), md.GetOrAddGuid(new Guid("6d616d62-612d-6d6f-6465-6c6c6f616431")), default(GuidHandle), default(GuidHandle));
md.AddAssembly(md.GetOrAddString(name), new Version(1, 0, 0, 0), default(StringHandle), default(BlobHandle), 0, AssemblyHashAlgorithm.Sha1);
md.AddTypeDefinition(default(TypeAttributes), default(StringHandle), md.GetOrAddString("<Module>"), default(EntityHandle),
  MetadataTokens.FieldDefinitionHandle(1), MetadataTokens.MethodDefinitionHandle(1));
var runtime = md.AddAssemblyReference(md.GetOrAddString("System.Runtime"), new Version(10, 0, 0, 0),
  default(StringHandle), md.GetOrAddBlob(new byte[] { 0xb0, 0x3f, 0x5f, 0x7f, 0x11, 0xd5, 0x0a, 0x3a }), 0, default(BlobHandle));
var core = md.AddAssemblyReference(md.GetOrAddString("Microsoft.ML.Core"), new Version(1, 0, 0, 0),
  default(StringHandle), md.GetOrAddBlob(new byte[] { 0xcc, 0x7b, 0x13, 0xff, 0xcd, 0x2d, 0xdd, 0x51 }), 0, default(BlobHandle));
var systemType = md.AddTypeReference(runtime, md.GetOrAddString("System"), md.GetOrAddString("Type"));

// The runtime drops custom attributes whose constructor the decorated assembly cannot see, and this one is internal.
// IgnoresAccessChecksToAttribute (which each assembly defines for itself) lifts that for Microsoft.ML.Core:
//   sealed class System.Runtime.CompilerServices.IgnoresAccessChecksToAttribute : Attribute { ctor(string) : base() {} }
var systemAttribute = md.AddTypeReference(runtime, md.GetOrAddString("System"), md.GetOrAddString("Attribute"));
var baseCtorSignature = new BlobBuilder();
new BlobEncoder(baseCtorSignature).MethodSignature(SignatureCallingConvention.Default, 0, true).Parameters(0, r => r.Void(), p => { });
var baseCtor = md.AddMemberReference(systemAttribute, md.GetOrAddString(".ctor"), md.GetOrAddBlob(baseCtorSignature));
var ilStream = new BlobBuilder();
var il = new InstructionEncoder(new BlobBuilder());
il.LoadArgument(0);
il.Call(baseCtor);
il.OpCode(ILOpCode.Ret);
int body = new MethodBodyStreamEncoder(ilStream).AddMethodBody(il);
var ignoresCtorSignature = new BlobBuilder();
new BlobEncoder(ignoresCtorSignature).MethodSignature(SignatureCallingConvention.Default, 0, true).Parameters(1, r => r.Void(), p => p.AddParameter().Type().String());
var ignoresCtor = md.AddMethodDefinition(
  MethodAttributes.Public | MethodAttributes.HideBySig | MethodAttributes.SpecialName | MethodAttributes.RTSpecialName,
  MethodImplAttributes.IL, md.GetOrAddString(".ctor"), md.GetOrAddBlob(ignoresCtorSignature), body, MetadataTokens.ParameterHandle(1));
md.AddTypeDefinition(TypeAttributes.NotPublic | TypeAttributes.Sealed | TypeAttributes.BeforeFieldInit | TypeAttributes.Class,
  md.GetOrAddString("System.Runtime.CompilerServices"), md.GetOrAddString("IgnoresAccessChecksToAttribute"), systemAttribute,
  MetadataTokens.FieldDefinitionHandle(1), ignoresCtor);
var ignoresValue = new BlobBuilder();
new BlobEncoder(ignoresValue).CustomAttributeSignature(f => f.AddArgument().Scalar().Constant("Microsoft.ML.Core"), n => n.Count(0));
md.AddCustomAttribute(EntityHandle.AssemblyDefinition, ignoresCtor, md.GetOrAddBlob(ignoresValue));

var attribute = md.AddTypeReference(core, md.GetOrAddString("Microsoft.ML"), md.GetOrAddString("LoadableClassAttribute"));
// LoadableClassAttribute(Type instType, Type loaderType, Type argType, Type sigType, string userName, params string[] loadNames)
var ctorSignature = new BlobBuilder();
new BlobEncoder(ctorSignature).MethodSignature(SignatureCallingConvention.Default, 0, true).Parameters(6, r => r.Void(), p =>
{
  for (int i = 0; i < 4; i++) p.AddParameter().Type().Type(systemType, false);
  p.AddParameter().Type().String();
  p.AddParameter().Type().SZArray().String();
});
var ctor = md.AddMemberReference(attribute, md.GetOrAddString(".ctor"), md.GetOrAddBlob(ctorSignature));
foreach (var loader in Loaders)
{
  string type = loader[0], userName = loader[1], loadName = loader[2];
  var value = new BlobBuilder();
  new BlobEncoder(value).CustomAttributeSignature(f =>
  {
    f.AddArgument().Scalar().SystemType(type);
    f.AddArgument().Scalar().SystemType(type);
    f.AddArgument().Scalar().SystemType(null);
    f.AddArgument().Scalar().SystemType(signatureType);
    f.AddArgument().Scalar().Constant(userName);
    f.AddArgument().Vector().Count(1).AddLiteral().Scalar().Constant(loadName);
  }, n => n.Count(0));
  md.AddCustomAttribute(EntityHandle.AssemblyDefinition, ctor, md.GetOrAddBlob(value));
}
var pe = new ManagedPEBuilder(PEHeaderBuilder.CreateLibraryHeader(), new MetadataRootBuilder(md), ilStream,
  flags: CorFlags.ILOnly, deterministicIdProvider: content => new BlobContentId(new Guid("6d616d62-612d-6d6f-6465-6c6c6f616431"), 0x4d414d42));
var image = new BlobBuilder();
pe.Serialize(image);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(OutputFile))!);
File.WriteAllBytes(OutputFile, image.ToArray());
      
return 0;
