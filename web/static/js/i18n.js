// Two languages: zh-CN (default) and English. t("key") -> text in the chosen language.
const LANG_KEY = "tc.lang";

const TEXT = {
  app: ["县域远程诊断中心", "County Remote Diagnostic Center"],
  signIn: ["登录", "Sign in"], signOut: ["退出", "Sign out"],
  username: ["用户名", "Username"], password: ["密码", "Password"],
  badLogin: ["用户名或密码错误", "Wrong username or password"],
  lang: ["English", "中文"],
  clinic: ["诊所工作台", "Clinic console"], worklist: ["工作列表", "Worklist"],
  referrals: ["转诊", "Referrals"], admin: ["系统管理", "Administration"], audit: ["审计日志", "Audit log"],
  lab: ["检验", "Laboratory"], home: ["首页", "Home"],
  ecg_read: ["心电", "ECG"], imaging_read: ["影像", "Imaging"], video_consult: ["视频会诊", "Video consult"],
  lab_test: ["检验", "Lab test"],
  routine: ["常规", "Routine"], urgent: ["急", "Urgent"], stat: ["危急/即刻", "STAT"],
  requested: ["待接收", "Requested"], accepted: ["已接收", "Accepted"], rejected: ["已拒绝", "Rejected"],
  in_progress: ["处理中", "In progress"], completed: ["已完成", "Completed"], cancelled: ["已取消", "Cancelled"],
  opened: ["已发起", "Opened"], arrived: ["已到院", "Arrived"], closed: ["已结束", "Closed"],
  patient: ["患者", "Patient"], patients: ["患者", "Patients"], findPatient: ["查找患者", "Find a patient"],
  search: ["查找", "Search"], searchHint: ["姓名、病历号或身份证号", "Name, record number or resident ID"],
  register: ["登记新患者", "Register a patient"], name: ["姓名", "Name"], sex: ["性别", "Sex"],
  M: ["男", "Male"], F: ["女", "Female"], O: ["其他", "Other"], U: ["未知", "Unknown"],
  birthDate: ["出生日期", "Birth date"], phone: ["电话", "Phone"], residentId: ["身份证号", "Resident ID"],
  recordNumber: ["病历号", "Record number"], save: ["保存", "Save"], cancel: ["取消", "Cancel"],
  ridOk: ["身份证号校验通过", "Resident ID is valid"], ridBad: ["身份证号无效", "Resident ID is invalid"],
  ridLen: ["身份证号应为18位", "A resident ID has 18 characters"],
  ridCheck: ["校验位错误", "Check character does not match"], ridDate: ["出生日期无效", "Birth date is invalid"],
  ridSex: ["性别与身份证号不符", "Sex does not match the resident ID"],
  consent: ["知情同意", "Consent"], consentRecords: ["记录同意（病历共享）", "Record consent (records)"],
  consentRecording: ["记录同意（会诊录像）", "Record consent (recording)"], consentOk: ["已记录同意", "Consent recorded"],
  hasConsent: ["已同意", "Consented"], noConsent: ["未记录同意", "No consent on record"],
  newRequest: ["发起申请", "New request"], kind: ["类型", "Kind"], priority: ["优先级", "Priority"],
  question: ["临床问题", "Clinical question"], send: ["发送", "Send"], ecgFile: ["心电文件", "ECG file"],
  csvFs: ["CSV采样率(Hz)", "CSV sampling rate (Hz)"], tests: ["检验项目", "Tests"],
  specimen: ["标本", "Specimen"], requests: ["申请", "Requests"], status: ["状态", "Status"],
  due: ["截止", "Due"], created: ["创建", "Created"], overdue: ["已超时", "Overdue"], critical: ["危急", "Critical"],
  inbox: ["报告收件箱", "Report inbox"], markRead: ["标为已读", "Mark read"], print: ["打印", "Print"], pdfReport: ["下载电子报告", "PDF report"],
  unread: ["未读", "Unread"], read: ["已读", "Read"], open: ["打开", "Open"], none: ["无", "None"],
  selectPatient: ["请先选择患者", "Select a patient first"], sent: ["已发送", "Sent"],
  slot: ["预约时段", "Reserved slot"], place: ["地点", "Place"], department: ["科室", "Department"],
  reason: ["原因", "Reason"], urgency: ["紧急程度", "Urgency"], accept: ["接收", "Accept"],
  arrive: ["已到院", "Mark arrived"], close: ["结束", "Close"], backReferral: ["回转", "Back-referral"],
  summary: ["摘要", "Summary"], reject: ["拒绝", "Reject"], start: ["开始", "Start"],
  sign: ["签发", "Sign"], signed: ["已签发", "Signed"], draft: ["草稿", "Draft"], saveDraft: ["保存草稿", "Save draft"],
  findings: ["所见", "Findings"], impression: ["诊断意见", "Impression"], report: ["报告", "Report"],
  measurements: ["测量值", "Measurements"], statements: ["诊断语句", "Statements"],
  heartRate: ["心率", "Heart rate"], axes: ["电轴", "Axes"], zoom: ["缩放", "Zoom"],
  calipers: ["测量尺", "Calipers"], caliperHint: ["在波形上拖动以测量间期", "Drag on the tracing to measure an interval"],
  layout: ["布局", "Layout"], rhythm: ["节律条", "Rhythm strip"], machine: ["机器分析", "Machine analysis"],
  noEcg: ["该申请尚无心电图", "No ECG for this request yet"], ecgViewer: ["心电阅读", "ECG viewer"],
  imagingViewer: ["影像阅读", "Image viewer"], studies: ["检查", "Studies"], series: ["序列", "Series"],
  window: ["窗宽窗位", "Window/level"], preset: ["预设", "Preset"], slice: ["层面", "Slice"], frame: ["帧", "Frame"],
  reset: ["复位", "Reset"], noStudies: ["该申请尚无影像", "No studies for this request yet"],
  live: ["实时", "Live"], offline: ["离线，重连中", "Offline, reconnecting"], refresh: ["刷新", "Refresh"],
  newItem: ["新申请", "New request"], statAlert: ["危急/即刻申请！", "STAT request!"],
  room: ["会诊室", "Consult room"], join: ["加入", "Join"], leave: ["离开", "Leave"], end: ["结束会诊", "End consult"],
  mute: ["静音", "Mute"], unmute: ["取消静音", "Unmute"], camera: ["摄像头", "Camera"], audioOnly: ["仅语音", "Audio only"],
  chat: ["聊天", "Chat"], deviceCheck: ["设备检查", "Device check"], lobby: ["等候室，等待主持人", "Lobby: waiting for the host"],
  micLevel: ["麦克风", "Microphone"], videoOff: ["关闭视频", "Video off"], videoOn: ["开启视频", "Video on"],
  admit: ["准入", "Admit"], participants: ["参会者", "Participants"], roomUnavailable: ["会诊室服务不可用", "Consult rooms are not available"],
  coView: ["共同阅片", "Co-viewing"], raiseHand: ["举手", "Raise hand"], muted: ["已静音", "Muted"],
  instName: ["名称", "Name"], amend: ["修订", "Amend"],
  guest: ["访客", "Guest"], roleHost: ["主持人", "Host"], roleMember: ["会诊专家", "Specialist"], roleGuest: ["访客", "Guest"], keyImages: ["关键图像", "Key images"], invite: ["邀请患者", "Invite the patient"], guestName: ["患者姓名", "Patient's name"], amended: ["已修订", "Amended"],
  orders: ["检验单", "Orders"], results: ["结果", "Results"], enterResults: ["录入结果", "Enter results"],
  value: ["结果值", "Value"], unit: ["单位", "Unit"], flag: ["标志", "Flag"], range: ["参考范围", "Range"],
  release: ["审核发布", "Validate and release"], receive: ["签收", "Receive"], collect: ["采集", "Collect"], ship: ["送检", "Ship"],
  alerts: ["危急值", "Critical values"], ack: ["确认", "Acknowledge"], notifiedPerson: ["通知对象", "Person notified"],
  method: ["方式", "Method"], cumulative: ["累积结果", "Cumulative results"], test: ["项目", "Test"],
  institutions: ["机构", "Institutions"], users: ["用户", "Users"], devices: ["DICOM设备", "DICOM devices"],
  catalogue: ["检验目录", "Lab catalogue"], code: ["编码", "Code"], level: ["级别", "Level"], role: ["角色", "Role"],
  active: ["启用", "Active"], disable: ["停用", "Disable"], enable: ["启用", "Enable"], add: ["添加", "Add"],
  history: ["既往资料", "Patient history"], historyNone: ["没有既往资料", "No earlier records"],
  priorEcgs: ["既往心电图", "Prior ECGs"], priorStudies: ["既往影像检查", "Prior studies"],
  priorRequests: ["既往申请与报告", "Prior requests and reports"], labTrends: ["检验趋势", "Lab trends"],
  serialTitle: ["与前次心电图比较", "Compared with the prior ECG"], serialPrior: ["前次", "Prior"], serialCurrent: ["本次", "Current"],
  serialChange: ["变化", "Change"], serialSt: ["ST段变化", "ST changes"], serialNew: ["新出现", "New"], serialGone: ["已消失", "Resolved"],
  serialSignificant: ["有显著变化", "Significant change"], serialNoChange: ["与前次相比无显著变化", "No significant change since the prior ECG"],
  scheduleExam: ["预约检查", "Schedule exam"], reschedule: ["改约", "Reschedule"], bookedAt: ["已预约", "Booked"],
  modality: ["检查类型", "Modality"], station: ["检查设备", "Scanner"], examDescription: ["检查部位/说明", "Exam description"],
  description: ["检查部位/说明", "Description"], station_aet: ["检查设备", "Scanner"],
  noStation: ["本机构、所属乡镇卫生院和县医院均未登记检查设备", "No scanner is registered at this clinic, its township or the county"],
  "mod.CT": ["CT", "CT"], "mod.DX": ["DX 数字X线摄影", "DX radiography"], "mod.MR": ["MR 磁共振", "MR imaging"],
  "mod.US": ["US 超声", "US ultrasound"], "mod.CR": ["CR 计算机X线摄影", "CR radiography"], "mod.MG": ["乳腺X线摄影", "Mammography"],
  his: ["医院信息系统对接", "HIS links"],
  hisHint: ["签发的报告自动发送到各机构的医院信息系统（HL7，MLLP）。主机留空、端口为 0 表示不发送。",
    "Signed reports go to each clinic's own hospital information system (HL7 v2 over MLLP). An empty host and port 0: nothing is sent."],
  hisWaiting: ["待发送", "Waiting"], hisStoppedCount: ["已停止", "Stopped"], hisStopped: ["需要处理的消息", "Messages that need a person"],
  hisNoneStopped: ["没有停止发送的消息", "No stopped messages"], hisAttempts: ["尝试次数", "Attempts"], hisOutcome: ["结果", "Outcome"],
  hisRetry: ["重新发送", "Send again"], hisRetried: ["已重新排队发送", "Queued to send again"],
  hisAccepted: ["对方已接收", "Accepted"], hisMessageError: ["对方报告消息错误", "The HIS found the message wrong"],
  hisRejected: ["对方暂不能接收", "The HIS could not take it now"], hisUnreachable: ["无法连接", "Unreachable"],
  hisOru: ["检验报告", "Lab report"], hisMdm: ["诊断报告", "Report"], hisCorrection: ["更正报告", "Correction"],
  aeTitle: ["AE名称", "AE title"], host: ["主机", "Host"], port: ["端口", "Port"], institution: ["机构", "Institution"],
  actor: ["操作者", "Actor"], action: ["操作", "Action"], outcome: ["结果", "Outcome"], since: ["起", "Since"],
  until: ["止", "Until"], verify: ["校验哈希链", "Verify chain"], chainOk: ["哈希链完整", "Chain intact"],
  chainBad: ["哈希链断裂", "Chain broken"], chainChecked: ["已核对", "checked"],
  chainUnsealed: ["未封存", "unsealed"], anchorForged: ["签名不符的锚点文件", "anchor files failing their signature"],
  anchorOk: ["与外部锚点一致", "Matches its anchor"], anchorBad: ["与外部锚点不符", "Anchor check failed"],
  anchorNone: ["尚无外部锚点：无法发现被截断的链尾", "No anchor yet: a cut tail cannot be detected"],
  time: ["时间", "Time"], object: ["对象", "Object"], filter: ["筛选", "Filter"],
  signer: ["签发医师", "Signed by"], signedAt: ["签发时间", "Signed at"], requestNo: ["申请号", "Request no."],
  age: ["年龄", "Age"], from: ["申请机构", "From"], printReport: ["远程诊断报告", "Remote diagnostic report"],
  back: ["返回", "Back"], error: ["出错", "Error"], loading: ["加载中…", "Loading…"], empty: ["暂无", "Nothing yet"],
  referNow: ["绿色通道转诊", "Green-channel referral"], refer: ["转诊", "Refer"],
  // -- consult: conclusion, one owner, hold/resume --
  on_hold: ["待补充信息", "On hold"], consultOpinion: ["会诊意见", "Consult opinion"],
  advice: ["建议", "Advice"], plan: ["处置计划", "Plan"], treat_locally: ["基层治疗", "Treat locally"],
  follow_up: ["随访", "Follow up"], instructions: ["处置说明", "Instructions"], followUpOn: ["随访日期", "Follow-up date"],
  referTo: ["转诊科室", "Refer to"], conducted_video: ["经视频会诊", "Held by video"],
  conducted_written: ["书面会诊（未视频）", "Answered in writing"], hold: ["暂停并询问诊所", "Hold and ask the clinic"],
  holdQuestion: ["向诊所提问", "Question for the clinic"], answer: ["答复", "Answer"],
  clinicAnswer: ["诊所答复", "Clinic's answer"], waitingAnswer: ["等待诊所答复", "Waiting for the clinic's answer"],
  reassign: ["改派", "Reassign"], reassignTo: ["改派给", "Hand to"], assignee: ["负责医师", "Assignee"],
  you: ["您", "You"], otherSpecialist: ["其他专家", "Another specialist"], openRoom: ["进入会诊室", "Open the room"],
  consultPage: ["会诊意见页", "Consult page"],
  bye_left: ["您已离开会诊室", "You left the room"], bye_removed: ["已被移出会诊室", "Removed from the room"],
  bye_ended: ["会诊已结束", "The consult has ended"], bye_replaced: ["已在其他窗口加入", "Joined from another window"],
  bye_timeout: ["连接超时", "Connection timed out"],
  err_not_assignee: ["该申请由其他专家负责，您不能书写或签发", "This request is assigned to another specialist"],
  err_request_taken: ["该申请已被其他专家接收", "Another specialist has already accepted this request"],
  err_on_hold: ["申请已暂停，等待诊所答复", "On hold, waiting for the clinic's answer"],
  err_not_on_hold: ["该申请未在等待答复", "This request is not waiting for an answer"],
  err_same_assignee: ["已由该专家负责", "Already assigned to this specialist"],
  err_invalid_transition: ["当前状态不允许此操作", "Not allowed in the current state"],
  err_invalid_input: ["输入有误，请检查", "Please check the input"],
  "err_field_data.plan": ["请选择处置计划", "Choose a plan"],
  "err_field_data.plan.instructions": ["请填写基层治疗的处置说明", "Write the instructions for treating locally"],
  "err_field_data.plan.follow_up_on": ["请填写有效的随访日期", "Give a valid follow-up date"],
  err_field_findings: ["签发前请填写所见或建议", "Write findings or advice before signing"],
  // -- critical alerts --
  alertEcg: ["心电图危急值", "Critical ECG"], alertLab: ["检验危急值", "Critical lab value"],
  alertEscalatedTownship: ["未及时确认，已上报乡镇值班医生", "Not acknowledged: escalated to the township duty doctor"],
  alertEscalatedDesk: ["未及时确认，已上报中心值班台", "Not acknowledged: escalated to the center's duty desk"],
  alertSpokenTo: ["通话对象（姓名）", "Person spoken to (name)"], alertAckSeen: ["已查看，立即处理", "Seen, acting on it"],
  alertAckPhoned: ["已电话通知", "Phoned"], alertNeedPerson: ["请填写通话对象的姓名", "Name the person you spoke to"],
  alertAlreadyAcked: ["已由他人确认", "Already acknowledged by someone else"], alertClinic: ["诊所", "Clinic"],
  alertRequest: ["申请", "Request"], alertAcks: ["危急值确认", "Critical alert acknowledgement"],
  alertNotAcked: ["尚未确认", "Not yet acknowledged"], alertAckedBy: ["确认人", "Acknowledged by"],
  ackMethod_in_app: ["应用内查看", "Seen in app"], ackMethod_phone: ["电话通知", "Phoned"],
  alertLevel0: ["已通知诊所与值班台", "Clinic and duty desk alerted"],
  duty_desk: ["值班台", "Duty desk"], dutyDesk: ["危急值值班台", "Critical alerts desk"],
  alertsOpen: ["待确认的危急值", "Alerts awaiting acknowledgement"], alertsRecent: ["近期危急值", "Recent critical alerts"],
  alertsNone: ["目前没有待确认的危急值", "No alerts awaiting acknowledgement"],
  // -- referrals: green channel from the reading pages, department desks, capacity --
  department_desk: ["科室接诊", "Department desk"], departmentDesk: ["科室转诊接诊", "Department referrals"],
  referred: ["已转诊", "Referred"], referralExists: ["该报告已有未结束的转诊", "This report already has an open referral"],
  slot_full: ["该时段已满，请选择其他时段", "That slot is full; choose another"],
  slot_booked: ["该时段已有预约，不能撤销", "That slot has bookings and cannot be withdrawn"],
  clinicalSummary: ["病情摘要", "Clinical summary"], incoming: ["待接收转诊", "Incoming referrals"],
  capacity: ["可预约资源", "Capacity"], publishSlot: ["发布时段", "Publish a slot"], places: ["名额", "Places"],
  booked: ["已约", "Booked"], free: ["余", "free"], startsAt: ["开始", "Starts"], endsAt: ["结束", "Ends"],
  date: ["日期", "Date"], withdraw: ["撤销", "Withdraw"], noFreeSlot: ["暂无可预约时段，请科室先发布", "No free slot; the department publishes capacity first"],
  viewReport: ["查看报告", "View report"], hideReport: ["收起报告", "Hide report"], chooseSlot: ["选择时段", "Choose a slot"],
  cath_lab: ["导管室", "Cath lab"], ward_bed: ["病床", "Ward bed"], clinic_session: ["门诊时段", "Clinic session"],
  icu_bed: ["抢救/监护床位", "Resuscitation / ICU bed"], resourceKind: ["资源类型", "Resource"],
  referral_exists: ["该报告已有未结束的转诊", "This report already has an open referral"],
  cardiology: ["心内科", "Cardiology"], emergency: ["急诊科", "Emergency"], showAll: ["显示全部", "Show all"],
  openOnly: ["仅未结束", "Open only"],
  // -- end referrals --
  // -- match: reconciliation --
  reconciliation: ["待核对资料", "Reconciliation"], fileOnPatient: ["归档到该患者", "File on this patient"],
  filed: ["已归档", "Filed"], claimedPatient: ["资料中的患者", "Patient in the data"],
  reason: ["原因", "Reason"],
  reconcileHint: ["以下影像或心电与所指申请单的患者或机构不符，未归档。请核对后归档到发送机构的正确患者。",
    "These studies and ECGs disagree with the request they name, and were not filed. Check them and file each on the right patient of the sending clinic."],
  // -- long ECG reading --
  overview: ["概览", "Overview"], rateTrend: ["心率", "Heart rate"], episodes: ["节律事件", "Rhythm episodes"],
  afBurden: ["房颤负荷", "AF burden"], noEpisodes: ["未见节律事件", "No rhythm episodes"],
  episodesUnknown: ["本次分析未给出节律事件", "The analysis lists no rhythm episodes"], duration: ["时长", "Duration"],
  pageOf: ["第", "Page"], prevPage: ["上一页", "Previous"], nextPage: ["下一页", "Next"], jumpTo: ["跳转到", "Go to"],
  lead: ["导联", "Lead"], bpm: ["次/分", "/min"], longestRr: ["最长RR间期", "Longest RR"], ectopy: ["室早/房早", "PVCs/PACs"],
  tracingUnavailable: ["心电图波形无法显示，不能签发", "The tracing cannot be drawn; the report cannot be signed"],
  toView: ["签发前须查看", "To view before signing"], viewTracing: ["完整波形", "The whole tracing"],
  viewOverview: ["概览", "The overview"], viewStrips: ["至少一页波形", "At least one page of strips"],
  viewEpisode: ["危急事件", "Critical episode at"], allViewed: ["波形已查看，可以签发", "Tracing viewed; ready to sign"],
  badTime: ["时间格式为 时:分:秒", "Enter the time as h:mm:ss"],
  af: ["心房颤动", "Atrial fibrillation"], flutter: ["心房扑动", "Atrial flutter"], svt: ["室上性心动过速", "SVT"],
  vt: ["室性心动过速", "Ventricular tachycardia"], couplet: ["成对室早", "Ventricular couplet"], triplet: ["三联室早", "Ventricular triplet"],
  bigeminy: ["室早二联律", "Ventricular bigeminy"], trigeminy: ["室早三联律", "Ventricular trigeminy"], pause: ["长间歇", "Pause"],
  sinus_brady: ["窦性心动过缓", "Sinus bradycardia"], sinus_tachy: ["窦性心动过速", "Sinus tachycardia"],
  avb1: ["一度房室传导阻滞", "First-degree AV block"], avb2_mobitz1: ["二度I型房室传导阻滞", "Second-degree AV block, Mobitz I"],
  avb2_mobitz2: ["二度II型房室传导阻滞", "Second-degree AV block, Mobitz II"], avb2_2to1: ["2:1房室传导阻滞", "2:1 AV block"],
  avb3: ["三度房室传导阻滞", "Third-degree AV block"], paced: ["起搏心律", "Paced rhythm"],
  // -- end long ECG reading --
};

// -- ui: codes and statuses shown to people, server error codes --
Object.assign(TEXT, {
  // lab order / specimen / result statuses, specimen types, flags, acknowledgement methods
  ordered: ["已开单", "Ordered"], collected: ["已采集", "Collected"], shipped: ["已送检", "Shipped"],
  received: ["已签收", "Received"], resulted: ["已出结果", "Resulted"], released: ["已发布", "Released"],
  pending: ["待采集", "Pending"], preliminary: ["初步结果", "Preliminary"], held: ["暂缓", "Held"],
  final: ["已签发", "Final"], corrected: ["已更正", "Corrected"], superseded: ["已被替代", "Superseded"],
  haemolysed: ["溶血", "Haemolysed"], insufficient: ["量不足", "Insufficient"],
  unlabelled: ["无标签", "Unlabelled"], clotted: ["凝块", "Clotted"],
  blood_edta: ["EDTA抗凝全血", "EDTA whole blood"], plasma_citrate: ["枸橼酸钠抗凝血浆", "Citrate plasma"],
  serum: ["血清", "Serum"], urine: ["尿液", "Urine"],
  "flag.N": ["正常", "Normal"], "flag.L": ["偏低 ↓", "Low ↓"], "flag.H": ["偏高 ↑", "High ↑"],
  "flag.LL": ["危急低值 ↓↓", "Critically low ↓↓"], "flag.HH": ["危急高值 ↑↑", "Critically high ↑↑"],
  "refused.unknown_test": ["不是目录中的单项检验", "Not a single test of the catalogue"],
  "refused.wrong_unit": ["单位与目录不符", "The unit differs from the catalogue's"],
  "refused.not_numeric": ["该项目的结果须为数值", "This test takes a number"],
  "flag.A": ["异常", "Abnormal"], "flag.AA": ["危急异常", "Critically abnormal"],
  phone: ["电话", "Phone"], in_app: ["系统内确认", "In the app"],
  // roles, institution levels, audit outcomes, room states
  "role.admin": ["系统管理员", "Administrator"], "role.auditor": ["审计员", "Auditor"],
  "role.village_doctor": ["村医", "Village doctor"], "role.township_doctor": ["乡镇医生", "Township doctor"],
  "role.ecg_specialist": ["心电专家", "ECG specialist"], "role.imaging_specialist": ["影像专家", "Imaging specialist"],
  "role.consult_specialist": ["会诊专家", "Consult specialist"], "role.lab_technician": ["检验技师", "Lab technician"],
  "role.lab_supervisor": ["检验主管", "Lab supervisor"], "role.lab_specialist": ["检验医师", "Lab specialist"],
  "role.referral_desk": ["转诊服务台", "Referral desk"],
  "role.supervisor": ["卫健委监管", "Health commission supervisor"],
  county: ["县级", "County"], township: ["乡镇", "Township"], village: ["村级", "Village"],
  success: ["成功", "Success"], denied: ["拒绝", "Denied"], failure: ["失败", "Failure"],
  ended: ["已结束", "Ended"], waiting: ["等待中", "Waiting"], live_room: ["进行中", "In session"],
  // image presets and ECG measurement labels
  "preset.auto": ["自动", "Auto"], "preset.lung": ["肺窗", "Lung"], "preset.mediastinum": ["纵隔窗", "Mediastinum"],
  "preset.bone": ["骨窗", "Bone"], "preset.brain": ["脑窗", "Brain"],
  "P axis": ["P波电轴", "P axis"], "QRS axis": ["QRS电轴", "QRS axis"], "T axis": ["T波电轴", "T axis"],
  openEcg: ["查看心电图", "Open ECG"], openImages: ["查看影像", "Open images"], openResults: ["查看检验结果", "Lab results"],
  nameEn: ["英文名称", "English name"], noReportYet: ["尚无报告", "No report yet"], readOnly: ["只读", "Read only"], client: ["客户端", "Client"], seq: ["序号", "Seq."],
});

// Server errors by code: the page's language first, the server's own message only as a fallback.
const ERRORS = {
  authentication_failed: ["用户名或密码错误，或登录已失效", "Wrong username or password, or the session has ended"],
  authentication_required: ["请先登录", "Please sign in"],
  unauthorized: ["请先登录", "Please sign in"],
  account_locked: ["账户已被暂时锁定，请稍后再试", "The account is locked for a while; try again later"],
  csrf_failed: ["页面已过期，请刷新后重试", "This page has expired; reload it and try again"],
  origin_mismatch: ["请求来源不被接受", "The request does not come from this site"],
  forbidden: ["您无权执行此操作", "You are not allowed to do this"],
  consent_required: ["需要患者的知情同意", "The patient's consent is required"],
  not_found: ["未找到，可能已被删除或无权查看", "Not found (removed, or not yours to see)"],
  conflict: ["与当前记录冲突，请刷新后重试", "This conflicts with the current record; reload and try again"],
  invalid_transition: ["当前状态下不能执行此操作", "Not possible in the current status"],
  specimen_not_collected: ["标本尚未采集，不能录入结果", "No specimen collected yet: results cannot be entered"],
  invalid_input: ["输入有误，请检查", "Please check the input"],
  invalid_json: ["请求格式错误", "The request is malformed"],
  invalid_multipart: ["上传格式错误", "The upload is malformed"],
  payload_too_large: ["文件或内容过大", "The file or content is too large"],
  request_entity_too_large: ["文件或内容过大", "The file or content is too large"],
  method_not_allowed: ["不支持此操作", "This operation is not supported"],
  too_many_requests: ["操作过于频繁，请稍后再试", "Too many requests; try again shortly"],
  too_many_attempts: ["登录失败次数过多，请稍后再试", "Too many failed sign-ins; try again later"],
  slot_taken: ["该设备此时段已被预约，请换一个时间或设备", "That scanner is booked at this time; choose another time or scanner"],
  step_started: ["检查已开始，不能改约", "The exam has started; it can no longer be moved"],
  step_exists: ["该申请刚被他人预约，请刷新", "Someone has just booked this request; reload"],
  request_closed: ["申请已结束，不能预约", "The request is closed; it cannot be booked"],
  not_stopped: ["该消息未停止发送，无需重发", "This message is not stopped"],
  superseded: ["该报告已有更新的版本发出，不再重发旧版本", "A later version of this report has gone since; the old one is not sent again"],
  own_account: ["不能停用自己的账户", "You cannot disable your own account"],
  last_admin: ["这是最后一个系统管理员账户，不能停用", "This is the last administrator account; it cannot be disabled"],
  service_unavailable: ["服务暂不可用，请稍后再试", "The service is unavailable; try again shortly"],
  internal_error: ["服务器出错，请稍后再试", "Server error; try again shortly"],
  network: ["网络连接失败，请检查网络", "The network is unreachable"],
};

// Camera and microphone failures (DOMException names) in words.
const DEVICE_ERRORS = {
  NotAllowedError: "deviceDenied", SecurityError: "deviceDenied", NotFoundError: "deviceMissing",
  OverconstrainedError: "deviceMissing", NotReadableError: "deviceBusy", AbortError: "deviceBusy",
};
Object.assign(TEXT, {
  // -- charges --
  charges: ["收费与结算", "Charges and settlement"], chDaily: ["当日收费", "Today's charges"],
  chSettlement: ["月度结算", "Monthly settlement"], chDay: ["日期", "Day"], chMonth: ["月份", "Month"],
  chItem: ["项目", "Item"], chAmount: ["金额（元）", "Amount (yuan)"], chStatus: ["状态", "Status"],
  chPay: ["收费", "Record payment"], chWaive: ["减免", "Waive"], chReason: ["减免原因", "Reason for the waiver"],
  chReference: ["医保结算号或支付流水号", "Insurance or payment reference"], chPaidOk: ["已收费", "Payment recorded"],
  chCharged: ["应收", "Charged"], chPaid: ["实收", "Received"], chRefunded: ["退款", "Refunded"],
  chWaived: ["减免", "Waived"], chVoided: ["作废（未缴费取消）", "Voided (cancelled unpaid)"],
  chDue: ["未缴", "Unpaid"], chDueOpen: ["月初未缴", "Unpaid at the start"], chDueClose: ["月末未缴", "Unpaid at the end"],
  chNet: ["净收入", "Net received"], chBalanced: ["账目平衡", "Balanced"], chUnbalanced: ["账目不平衡", "Does not balance"],
  chByItem: ["按项目", "Per item"], chByMethod: ["按支付方式", "Per payment method"], chCount: ["数量", "Count"],
  chMethod: ["支付方式", "Method"], chFigure: ["项目", "Figure"], chYuan: ["金额（元）", "Yuan"],
  chClose: ["月结关账", "Close the month"], chClosed: ["已关账", "Closed"], chOpenMonth: ["未关账（实时）", "Open (live)"],
  ch_due: ["待缴费", "Due"], ch_paid: ["已缴费", "Paid"], ch_waived: ["已减免", "Waived"],
  ch_refunded: ["已退款", "Refunded"], ch_void: ["已作废", "Void"],
  pm_cash: ["现金", "Cash"], pm_insurance: ["医保", "Medical insurance"], pm_online: ["线上支付", "Online payment"],
  // -- statistics --
  statistics: ["运行统计", "Statistics"], stCommunity: ["全医共体", "The whole community"],
  stExport: ["导出 CSV", "Export CSV"], stSummary: ["概况", "Summary"], stRequests: ["申请数", "Requests"],
  stOpen: ["未完成", "Open"], stWithin: ["按时完成率", "Within the deadline"],
  stCritical: ["危急值（已确认 / 总数）", "Critical results (acknowledged / raised)"],
  stAckMedian: ["危急值确认时间中位数", "Median time to acknowledge"],
  stReferralsUp: ["上转", "Referred up"], stReferralsDown: ["下转", "Referred back"],
  stCompletion: ["转诊完成率", "Referrals completed"], stConsults: ["会诊（完成 / 申请）", "Consults (completed / requested)"],
  stVolumes: ["各机构申请量", "Requests per institution"], stTurnaround: ["报告用时", "Turnaround"],
  stMedian: ["中位数", "Median"], stP90: ["第90百分位", "90th percentile"],
  stQuality: ["报告质控（复核）", "Report quality (second reading)"], stReader: ["初读医生", "First reader"],
  stSecondReadings: ["复核数", "Second readings"], stMinor: ["轻微差异", "Minor discrepancies"],
  stMajor: ["重大差异", "Major discrepancies"], stDiscrepancyRate: ["差异率", "Discrepancy rate"],
  stNoQuality: ["本时段无复核", "No second readings in this period"],
  deviceDenied: ["未获得摄像头或麦克风权限", "Camera or microphone permission was refused"],
  deviceMissing: ["未找到摄像头或麦克风", "No camera or microphone found"],
  deviceBusy: ["摄像头或麦克风被占用", "The camera or microphone is in use"],
  system: ["系统", "System"], request: ["申请", "Request"], user: ["用户", "User"],
  actionHint: ["操作代码", "Action code"],
  // consult room: why the server said goodbye, and its errors
  "room.left": ["已离开会诊室", "You left the room"], "room.removed": ["已被移出会诊室", "You were removed from the room"],
  "room.ended": ["会诊已结束", "The consult has ended"], "room.replaced": ["已在其他设备上进入", "Joined from another device"],
  "room.timeout": ["连接超时", "The connection timed out"], "room.malformed": ["消息格式错误", "Malformed message"],
  "room.unknown_type": ["不支持的消息", "Unsupported message"], "room.out_of_order": ["操作顺序有误", "Out of order"],
  "room.forbidden": ["无权执行此操作", "Not allowed"], "room.not_found": ["未找到", "Not found"],
  "room.room_full": ["会诊室已满", "The room is full"], "room.media_failed": ["音视频连接失败，正在重试", "Media failed; retrying"],
  "room.connect_timeout": ["音视频连接超时，正在重试", "Media connection timed out; retrying"],
  "room.internal": ["服务器出错", "Server error"],
  "room.session_ended": ["登录已失效，请重新登录", "Your sign-in ended; please sign in again"],
  "room.shutdown": ["服务器正在重启，请稍后重新进入", "The server is restarting; join again in a moment"],
  "room.room_ended": ["主持人已结束本次会诊", "The host has ended this room"],
  "obj.consent": ["知情同意", "Consent"], "obj.department": ["科室", "Department"], "obj.device": ["设备", "Device"],
  "obj.ecg": ["心电图", "ECG"], "obj.institution": ["机构", "Institution"], "obj.lab_alert": ["危急值", "Critical value"],
  "obj.lab_order": ["检验单", "Lab order"], "obj.lab_result": ["检验结果", "Lab result"], "obj.lab_test": ["检验项目", "Lab test"],
  "obj.override": ["紧急授权", "Override"], "obj.patient": ["患者", "Patient"], "obj.referral": ["转诊", "Referral"],
  "obj.report": ["报告", "Report"], "obj.request": ["申请", "Request"], "obj.specimen": ["标本", "Specimen"],
  "obj.study": ["检查", "Study"], "obj.user": ["用户", "User"], "obj.room": ["会诊室", "Room"], "obj.alert": ["警报", "Alert"],
});

// The text to show for an error from the API (ApiError: status, code, message, field).
export function errorText(err) {
  if (!err) return t("error");
  if (DEVICE_ERRORS[err.name]) return t(DEVICE_ERRORS[err.name]);
  const entry = err.code && ERRORS[err.code];
  const zh = lang() !== "en";
  if (entry) {
    const where = err.field && TEXT[err.field] ? "：" + t(err.field) : "";
    return (zh ? entry[0] : entry[1]) + (zh ? where : where.replace("：", ": "));
  }
  if (zh && err.message_zh) return err.message_zh;
  if (!zh && err.message && err.status !== undefined) return err.message;
  if (err.status) return (zh ? "操作失败（" : "Failed (") + "HTTP " + err.status + (zh ? "）" : ")");
  return zh ? "操作失败" : (err.message || "Failed");
}
// -- end ui --

export function lang() {
  return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh-CN";
}

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value);
  document.documentElement.lang = value;
}

export function t(key) {
  const entry = TEXT[key];
  if (!entry) return key;
  return lang() === "en" ? entry[1] : entry[0];
}

// Pick the local or the English one of a pair of server fields (name / name_en, title / title_en).
export function pick(zh, en) {
  return lang() === "en" && en ? en : zh;
}

document.documentElement.lang = lang();
